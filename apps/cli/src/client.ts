/** A small client for the Trainyard HTTP API; problem details become readable errors. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string,
  ) {}

  get headers(): Record<string, string> {
    return { authorization: `Bearer ${this.apiKey}` };
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { ...this.headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      const problem = (await response.json().catch(() => null)) as { detail?: string; errors?: { path: string; message: string }[] } | null;
      const fields = problem?.errors?.map((error) => `\n  ${error.path}: ${error.message}`).join("") ?? "";
      throw new Error(`${method} ${path} → ${response.status}: ${problem?.detail ?? response.statusText}${fields}`);
    }
    return (await response.json()) as T;
  }

  async download(path: string): Promise<Buffer> {
    const response = await fetch(`${this.baseUrl}${path}`, { headers: this.headers });
    if (!response.ok) throw new Error(`GET ${path} → ${response.status}`);
    return Buffer.from(await response.arrayBuffer());
  }
}
