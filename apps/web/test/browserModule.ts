/**
 * The dashboard's modules are plain browser JavaScript, outside the TypeScript project (they are
 * checked on their own with apps/web/tsconfig.json). Tests load them as they are, untransformed,
 * and describe the part of their interface they use.
 */
export async function loadBrowserModule<T>(relativeToPublicJs: string): Promise<T> {
  const url = new URL(`../public/js/${relativeToPublicJs}`, import.meta.url).href;
  return (await import(/* @vite-ignore */ url)) as T;
}
