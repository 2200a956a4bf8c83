/**
 * A TreeDataProvider over NodeModels (src/views/tree-model.ts): the views decide what is shown;
 * this turns nodes into TreeItems, keeps parents for reveal, and refreshes.
 */
import * as vscode from 'vscode';
import type { NodeModel } from '../views/tree-model';
import { toRange } from './convert';

export class NodeTreeProvider implements vscode.TreeDataProvider<NodeModel> {
  private readonly emitter = new vscode.EventEmitter<NodeModel | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly parents = new Map<string, NodeModel | undefined>();
  private readonly byId = new Map<string, NodeModel>();

  constructor(
    private readonly rootsOf: () => NodeModel[],
    private readonly uriOf: (file: string) => vscode.Uri | undefined,
    private readonly highlight?: (n: NodeModel) => boolean,
  ) {}

  refresh(node?: NodeModel): void {
    if (!node) {
      this.parents.clear();
      this.byId.clear();
    }
    this.emitter.fire(node);
  }

  getChildren(node?: NodeModel): NodeModel[] {
    const kids = node ? (node.children?.() ?? []) : this.rootsOf();
    for (const k of kids) {
      this.parents.set(k.id, node);
      this.byId.set(k.id, k);
    }
    return kids;
  }

  getParent(node: NodeModel): NodeModel | undefined {
    return this.parents.get(node.id);
  }

  /** A node seen by the view, by id. */
  node(id: string): NodeModel | undefined {
    return this.byId.get(id);
  }

  getTreeItem(n: NodeModel): vscode.TreeItem {
    const state =
      n.collapsible === 'expanded'
        ? vscode.TreeItemCollapsibleState.Expanded
        : n.collapsible === 'collapsed'
          ? vscode.TreeItemCollapsibleState.Collapsed
          : vscode.TreeItemCollapsibleState.None;
    const label: vscode.TreeItemLabel | string = this.highlight?.(n) ? { label: n.label, highlights: [[0, n.label.length]] } : n.label;
    const item = new vscode.TreeItem(label, state);
    item.id = n.id;
    item.description = n.description;
    item.tooltip = n.tooltip ? new vscode.MarkdownString().appendText(n.tooltip) : undefined;
    item.contextValue = n.contextValue;
    if (n.icon) item.iconPath = new vscode.ThemeIcon(n.icon, n.iconColor ? new vscode.ThemeColor(n.iconColor) : undefined);
    if (n.command) item.command = { command: n.command.command, title: n.command.title, arguments: n.command.arguments ? [...n.command.arguments] : undefined };
    else if (n.source) {
      const uri = this.uriOf(n.source.file);
      if (uri) item.command = { command: 'iommuLens.revealInConfig', title: 'Reveal in Config', arguments: [n] };
    }
    return item;
  }

  /** Where a node is defined, as a location. */
  location(n: NodeModel): vscode.Location | undefined {
    if (!n.source) return undefined;
    const uri = this.uriOf(n.source.file);
    return uri ? new vscode.Location(uri, toRange(n.source.range)) : undefined;
  }
}
