/**
 * One load per content change. An edit reaches the extension twice: as a document change, and
 * again through the file watcher when auto-save writes it; a rescan finds it a third time. The
 * gate remembers what each config was last loaded from (its text and the options that shape a
 * load) and says whether a new load would see anything new.
 */
export class LoadGate {
  private readonly last = new Map<string, { text: string; options: string }>();

  /** True when `text` under `options` differs from the last load of `key` (and records it). */
  admit(key: string, text: string, options: string): boolean {
    const was = this.last.get(key);
    if (was && was.text === text && was.options === options) return false;
    this.last.set(key, { text, options });
    return true;
  }

  /** After a config goes away (or its load failed), the next load of it must run. */
  forget(key: string): void {
    this.last.delete(key);
  }
}
