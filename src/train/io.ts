/** Where the trainer writes its outputs: a folder on disk in Node, memory (and downloads) in the browser. */
export interface OutputStore {
  /** Replace `name` atomically: a crash mid-write never leaves a broken file. */
  write(name: string, data: Uint8Array | string): Promise<void>;
  read(name: string): Promise<Uint8Array | null>;
  /** A description for messages ("runs/demo/best.safetensors"). */
  describe(name: string): string;
}

/** In-memory store, used by the browser and by tests. */
export class MemoryStore implements OutputStore {
  readonly files = new Map<string, Uint8Array>();
  async write(name: string, data: Uint8Array | string): Promise<void> {
    this.files.set(name, typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
  }
  async read(name: string): Promise<Uint8Array | null> {
    return this.files.get(name) ?? null;
  }
  describe(name: string): string {
    return name;
  }
}

/**
 * The output folder cannot be written (a file in the way, a read-only or full disk, no permission, another
 * run's lock). The message names the path and what to do; the CLI prints it without a stack trace.
 */
export class OutputError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutputError';
  }
}
