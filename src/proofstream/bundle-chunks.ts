import type { Db } from "../db/db.js";
import { bundleChunks } from "./schema.js";

/** Buffers the document up to one chunk, then stores it as the next bundle_chunks row. */
export class ChunkWriter {
  #parts: string[] = [];
  #pending = 0;
  #idx = 0;
  bytes = 0;

  constructor(
    private readonly db: Db,
    private readonly bundleId: string,
    private readonly chunkBytes: number,
  ) {}

  async write(text: string): Promise<void> {
    this.#parts.push(text);
    // Characters, not bytes: a chunk may exceed chunkBytes by its multi-byte characters, which is harmless.
    this.#pending += text.length;
    if (this.#pending >= this.chunkBytes) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#parts.length === 0) return;
    const data = Buffer.from(this.#parts.join(""), "utf8");
    this.#parts = [];
    this.#pending = 0;
    await this.db.insert(bundleChunks).values({ bundleId: this.bundleId, idx: this.#idx++, data });
    this.bytes += data.length;
  }
}
