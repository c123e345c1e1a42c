/** The part of node-tar 6 the API uses (the package ships no types). */
declare module "tar" {
  import type { EventEmitter } from "node:events";

  export interface ReadEntry extends EventEmitter, AsyncIterable<Buffer> {
    path: string;
    type: string;
    size: number;
    resume(): this;
  }

  export class Parse extends EventEmitter {
    constructor(options?: { strict?: boolean });
    write(chunk: Buffer): boolean;
    end(): this;
    on(event: "entry", listener: (entry: ReadEntry) => void): this;
    on(event: "end" | "close", listener: () => void): this;
    once(event: "drain", listener: () => void): this;
    on(event: "error", listener: (error: Error) => void): this;
  }
}
