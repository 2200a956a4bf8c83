/**
 * The config schema for editors of YAML and JSON, following `iommuLens.files`:
 * - the schema as a read-only document (`iommu-lens-schema:/iommu-lens.schema.json`), which
 *   VS Code's JSON support and Red Hat's YAML extension load by URI;
 * - YAML: a schema contributor registered with Red Hat's YAML extension when it is installed
 *   (its API's registerContributor), asked for each YAML document;
 * - JSON: VS Code's JSON support has no such API, so a command writes a `json.schemas` entry for
 *   the setting's globs to the workspace settings, when the user runs it.
 * package.json's jsonValidation and yamlValidation still name `*.iommu.json` and
 * `*.iommu.{yaml,yml}`: those files get the schema before the extension starts, whatever the setting.
 * Which documents match is decided in src/views/config-files.ts.
 */
import * as vscode from 'vscode';
import { jsonSchemaSettings, SCHEMA_SCHEME, SCHEMA_URI, schemaContributor, type JsonSchemaSetting } from '../views/config-files';
import type { ConfigStore } from './configs';
import type { Log } from './log';

export const YAML_EXTENSION = 'redhat.vscode-yaml';

/** The part of Red Hat's YAML extension's API used here (its src/schema-extension-api.ts). */
interface YamlExtensionApi {
  registerContributor(
    schema: string,
    requestSchema: (resource: string) => string | undefined,
    requestSchemaContent: (uri: string) => Promise<string> | string | undefined,
    label?: string,
  ): boolean;
}

export class SchemaAssociation implements vscode.Disposable {
  private readonly subs: vscode.Disposable[] = [];
  private text?: Promise<string>;
  private yamlRegistered = false;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly store: ConfigStore,
    private readonly log: Log,
  ) {
    this.subs.push(
      vscode.workspace.registerTextDocumentContentProvider(SCHEMA_SCHEME, { provideTextDocumentContent: () => this.content() }),
      // The YAML extension may be installed (or enabled) while this one runs.
      vscode.extensions.onDidChange(() => void this.registerWithYaml()),
    );
    void this.registerWithYaml();
  }

  /** The schema's text, from the file the extension ships. */
  content(): Promise<string> {
    this.text ??= Promise.resolve(vscode.workspace.fs.readFile(vscode.Uri.joinPath(this.extensionUri, 'schema', 'iommu-lens.schema.json'))).then((b) =>
      new TextDecoder().decode(b),
    );
    return this.text;
  }

  /** The YAML contributor: what Red Hat's YAML extension asks (also for tests). */
  readonly contributor = schemaContributor({
    globs: () => this.store.globs(),
    exclude: () => this.store.exclude(),
    folders: () => (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.toString()),
    isLoadedConfig: (resource) => this.store.get(resource) !== undefined,
    content: () => this.content(),
  });

  private async registerWithYaml(): Promise<void> {
    if (this.yamlRegistered) return;
    const ext = vscode.extensions.getExtension<YamlExtensionApi | undefined>(YAML_EXTENSION);
    if (!ext) return;
    this.yamlRegistered = true;
    try {
      const api = await ext.activate();
      if (typeof api?.registerContributor !== 'function') throw new Error('its API has no registerContributor');
      api.registerContributor(SCHEMA_SCHEME, this.contributor.requestSchema, this.contributor.requestSchemaContent, 'IOMMU Lens');
      this.log.info(`schema contributed to ${YAML_EXTENSION} for iommuLens.files`);
    } catch (e) {
      this.log.warn(`could not contribute the schema to ${YAML_EXTENSION}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /**
   * Writes the `json.schemas` entry for `iommuLens.files` to the workspace settings (the command
   * Associate JSON Schema with iommuLens.files): the entry is ours by its URL, replaced on each run.
   * Returns the entries written.
   */
  async associateJson(): Promise<JsonSchemaSetting[] | undefined> {
    if (!vscode.workspace.workspaceFolders?.length) {
      void vscode.window.showErrorMessage('IOMMU Lens: open a folder first; the schema association goes to its workspace settings.');
      return undefined;
    }
    const conf = vscode.workspace.getConfiguration('json');
    const current = conf.inspect<JsonSchemaSetting[]>('schemas')?.workspaceValue ?? [];
    const next = jsonSchemaSettings(current, this.store.globs());
    await conf.update('schemas', next, vscode.ConfigurationTarget.Workspace);
    const ours = next.find((e) => e.url === SCHEMA_URI);
    const msg = ours
      ? `IOMMU Lens: json.schemas in the workspace settings now gives ${ours.fileMatch?.join(', ')} the config schema.`
      : 'IOMMU Lens: iommuLens.files names no JSON files; no json.schemas entry of IOMMU Lens is left in the workspace settings.';
    this.log.info(msg);
    void vscode.window.showInformationMessage(msg);
    return next;
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
  }
}
