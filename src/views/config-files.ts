/**
 * Which documents are device configs, as plain functions of their text (for documents with no
 * file name, such as the untitled example).
 *
 * An untitled document has no name to match `iommuLens.files` against: VS Code names it
 * Untitled-N, and one opened under a chosen name (an untitled URI with a path) gets an
 * "associated file path" that hot exit does not give back as it was (VS Code 1.100,
 * untitledTextEditorService: after Reload Window the editor comes back under the local
 * resource's authority and path, and the backup kept under the first URI is not found, so the
 * document returns empty). So the example opens as a plain untitled document, and an untitled
 * document is a config when its text says so: the format's version key at the top level.
 */

/** The head of a document looked at; the version key sits at the top of every config. */
const HEAD_CHARS = 64 * 1024;

/** YAML's `iommu-lens:` at the start of a line (a top-level key), or JSON's `"iommu-lens":`. */
const VERSION_KEY = /^(?:iommu-lens|"iommu-lens"|'iommu-lens')[ \t]*:|"iommu-lens"\s*:/m;

/** True when the text of a nameless (untitled) document is a device config. */
export function isConfigText(text: string): boolean {
  return VERSION_KEY.test(text.length > HEAD_CHARS ? text.slice(0, HEAD_CHARS) : text);
}

/** An untitled document with nothing in it yet: not a config (and not an empty one in error). */
export function isBlank(text: string): boolean {
  return text.trim() === '';
}
