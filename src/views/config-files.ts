/**
 * Which documents are device configs, as plain functions of their URI and text, and the schema
 * association that follows from it (the VS Code side, src/extension, only feeds them).
 *
 * An untitled document has no name to match `iommuLens.files` against: VS Code names it
 * Untitled-N, and one opened under a chosen name (an untitled URI with a path) gets an
 * "associated file path" that hot exit does not give back as it was (VS Code 1.100,
 * untitledTextEditorService: after Reload Window the editor comes back under the local
 * resource's authority and path, and the backup kept under the first URI is not found, so the
 * document returns empty). So the example opens as a plain untitled document, and an untitled
 * document is a config when its text says so: the format's version key at the top level.
 */
import picomatch from 'picomatch';

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

// ---- `iommuLens.files`: one matching rule for the loader, the watcher, the editor features and
// the schema association.

const compiled = new Map<string, (path: string) => boolean>();

/** Tests a workspace-relative path against the configured globs (dot files included); compiled once per set of globs. */
export function globTest(globs: readonly string[]): (path: string) => boolean {
  const key = globs.join('\n');
  let test = compiled.get(key);
  if (!test) {
    if (compiled.size >= 16) compiled.clear();
    test = picomatch([...globs], { dot: true });
    compiled.set(key, test);
  }
  return test;
}

/**
 * The paths a glob is tried against for a document's URI (as VS Code writes URIs): its path
 * relative to the workspace folder holding it (given as those folders' URIs), and its own path
 * without the leading slash (an untitled document's name, a file outside every folder).
 */
export function uriPaths(resource: string, folders: readonly string[]): string[] {
  const out: string[] = [];
  for (const f of folders) {
    const base = f.endsWith('/') ? f : `${f}/`;
    if (resource.startsWith(base)) out.push(decode(resource.slice(base.length).split(/[?#]/)[0]!));
  }
  const m = /^[a-zA-Z][\w+.-]*:(?:\/\/[^/?#]*)?([^?#]*)/.exec(resource);
  if (m) out.push(decode(m[1]!).replace(/^\//, ''));
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Does a document's URI name a config under these globs (and not under `exclude`)? */
export function matchesFiles(resource: string, folders: readonly string[], globs: readonly string[], exclude?: string): boolean {
  const paths = uriPaths(resource, folders);
  if (exclude && paths.some(globTest([exclude]))) return false;
  return paths.some(globTest(globs));
}

// ---- The schema, for editors that ask for it by URI.

/** The scheme under which the extension serves its JSON schema (a read-only document). */
export const SCHEMA_SCHEME = 'iommu-lens-schema';
export const SCHEMA_URI = `${SCHEMA_SCHEME}:/iommu-lens.schema.json`;

/**
 * What Red Hat's YAML extension asks a schema contributor (its API's registerContributor):
 * which schema a document has, and that schema's text.
 */
export interface SchemaContributor {
  readonly requestSchema: (resource: string) => string | undefined;
  readonly requestSchemaContent: (uri: string) => Promise<string> | undefined;
}

export interface SchemaContributorSource {
  /** `iommuLens.files` and `iommuLens.exclude` now (read at each request: they follow the setting). */
  globs(): readonly string[];
  exclude(): string | undefined;
  /** The workspace folders' URIs. */
  folders(): readonly string[];
  /** A document the extension has loaded as a config though no glob names it (an untitled config). */
  isLoadedConfig(resource: string): boolean;
  /** The schema's text. */
  content(): Promise<string>;
}

/** The YAML schema association that follows `iommuLens.files`. */
export function schemaContributor(src: SchemaContributorSource): SchemaContributor {
  return {
    requestSchema: (resource) =>
      matchesFiles(resource, src.folders(), src.globs(), src.exclude()) || src.isLoadedConfig(resource) ? SCHEMA_URI : undefined,
    requestSchemaContent: (uri) => (uri === SCHEMA_URI ? src.content() : undefined),
  };
}

/**
 * The `json.schemas` entry (workspace settings) that gives the JSON configs `iommuLens.files`
 * names the schema: VS Code's JSON support has no API to ask an extension, so the entry is
 * written when the user asks for it. Globs that only name YAML files are left out; none left:
 * no entry. Other entries stay as they are; an earlier entry of ours is replaced.
 */
export interface JsonSchemaSetting {
  readonly fileMatch?: readonly string[];
  readonly url?: string;
  readonly [key: string]: unknown;
}

export function jsonSchemaSettings(current: readonly JsonSchemaSetting[], globs: readonly string[]): JsonSchemaSetting[] {
  const fileMatch = globs.filter((g) => !/\.ya?ml$/i.test(g));
  const others = current.filter((e) => e.url !== SCHEMA_URI);
  return fileMatch.length ? [...others, { fileMatch, url: SCHEMA_URI }] : others;
}
