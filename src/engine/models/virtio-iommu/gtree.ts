/**
 * The shape of GLib's GTree (glib/gtree.c: an AVL tree, balanced on insert and remove with the
 * same balance-factor rules and rotations), for the one thing that depends on it: which node a
 * lookup meets first when several compare equal. QEMU keeps a domain's mappings in a GTree
 * ordered by interval_cmp, under which overlapping intervals are "equal", so UNMAP removes the
 * covered mappings in the order its repeated lookups meet them, stops at the first split one it
 * meets, and translate's lookup of [addr, addr + 1] may meet the mapping above addr first.
 * GLib's threading of leaf pointers (for in-order walks) does not change the shape and is left out.
 */
export type Compare<K> = (a: K, b: K) => number;

interface GNode<K> {
  key: K;
  left: GNode<K> | null;
  right: GNode<K> | null;
  /** height(right) - height(left). */
  balance: number;
}

export class GTreeShape<K> {
  private root: GNode<K> | null = null;
  private count = 0;

  constructor(private readonly cmp: Compare<K>) {}

  /** g_tree_find_node: the first node on the search path that compares equal. */
  find(key: K): K | undefined {
    let node = this.root;
    while (node) {
      const c = this.cmp(key, node.key);
      if (c === 0) return node.key;
      node = c < 0 ? node.left : node.right;
    }
    return undefined;
  }

  /** g_tree_insert_internal (a key that compares equal replaces nothing here: callers check first). */
  insert(key: K): void {
    if (!this.root) {
      this.root = { key, left: null, right: null, balance: 0 };
      this.count = 1;
      return;
    }
    const path: Array<GNode<K> | null> = [null];
    let node = this.root;
    for (;;) {
      const c = this.cmp(key, node.key);
      if (c === 0) {
        node.key = key;
        return;
      }
      if (c < 0) {
        if (node.left) {
          path.push(node);
          node = node.left;
          continue;
        }
        node.left = { key, left: null, right: null, balance: 0 };
        node.balance -= 1;
        this.count++;
        break;
      }
      if (node.right) {
        path.push(node);
        node = node.right;
        continue;
      }
      node.right = { key, left: null, right: null, balance: 0 };
      node.balance += 1;
      this.count++;
      break;
    }
    for (;;) {
      const bparent = path.pop() ?? null;
      const leftNode = bparent !== null && node === bparent.left;
      if (node.balance < -1 || node.balance > 1) {
        node = rebalance(node);
        this.relink(bparent, leftNode, node);
      }
      if (node.balance === 0 || bparent === null) break;
      bparent.balance += leftNode ? -1 : 1;
      node = bparent;
    }
  }

  /** g_tree_remove_internal: removes the node comparing equal to key (met first on the path). */
  remove(key: K): boolean {
    if (!this.root) return false;
    const path: Array<GNode<K> | null> = [null];
    let node = this.root;
    for (;;) {
      const c = this.cmp(key, node.key);
      if (c === 0) break;
      const next = c < 0 ? node.left : node.right;
      if (!next) return false;
      path.push(node);
      node = next;
    }
    let idx = path.length - 1;
    const parent = path[idx]!;
    let balance: GNode<K> | null = parent;
    const leftNode = parent !== null && node === parent.left;
    if (!node.left || !node.right) {
      const child = node.left ?? node.right;
      if (!parent) this.root = child;
      else if (leftNode) {
        parent.left = child;
        parent.balance += 1;
      } else {
        parent.right = child;
        parent.balance -= 1;
      }
    } else {
      // Both children: the in-order successor takes the node's place.
      let next = node.right;
      let nextp = node;
      const oldIdx = idx + 1;
      idx++;
      while (next.left) {
        path[++idx] = nextp = next;
        next = next.left;
      }
      path[oldIdx] = next;
      balance = path[idx]!;
      if (nextp !== node) {
        nextp.left = next.right;
        nextp.balance += 1;
        next.right = node.right;
      } else {
        node.balance -= 1;
      }
      next.left = node.left;
      next.balance = node.balance;
      if (!parent) this.root = next;
      else if (leftNode) parent.left = next;
      else parent.right = next;
    }
    if (balance) {
      for (;;) {
        const bparent = idx > 0 ? path[--idx]! : null;
        const left = bparent !== null && balance === bparent.left;
        if (balance.balance < -1 || balance.balance > 1) {
          balance = rebalance(balance);
          this.relink(bparent, left, balance);
        }
        if (balance.balance !== 0 || !bparent) break;
        bparent.balance += left ? 1 : -1;
        balance = bparent;
      }
    }
    this.count--;
    return true;
  }

  get size(): number {
    return this.count;
  }

  /**
   * The keys in order, visiting only subtrees that may hold wanted ones: `left(k)` says whether
   * keys below k may be wanted, `right(k)` above it, `take(k)` whether k itself is.
   */
  inOrder(left: (k: K) => boolean, right: (k: K) => boolean, take: (k: K) => boolean, out: K[] = []): K[] {
    const stack: Array<GNode<K>> = [];
    let n = this.root;
    while (n || stack.length) {
      while (n) {
        stack.push(n);
        n = left(n.key) ? n.left : null;
      }
      const top = stack.pop()!;
      if (take(top.key)) out.push(top.key);
      n = right(top.key) ? top.right : null;
    }
    return out;
  }

  /** GLib's g_tree_node_check (G_TREE_DEBUG): every balance factor is the height difference; also the keys in order. */
  check(): { readonly ok: boolean; readonly keys: K[] } {
    const keys: K[] = [];
    let ok = true;
    const walk = (n: GNode<K> | null): number => {
      if (!n) return 0;
      const l = walk(n.left);
      keys.push(n.key);
      const r = walk(n.right);
      if (r - l !== n.balance || Math.abs(n.balance) > 1) ok = false;
      return Math.max(l, r) + 1;
    };
    walk(this.root);
    return { ok, keys };
  }

  private relink(parent: GNode<K> | null, left: boolean, node: GNode<K>): void {
    if (!parent) this.root = node;
    else if (left) parent.left = node;
    else parent.right = node;
  }
}

/** g_tree_node_balance. */
function rebalance<K>(node: GNode<K>): GNode<K> {
  if (node.balance < -1) {
    if (node.left!.balance > 0) node.left = rotateLeft(node.left!);
    return rotateRight(node);
  }
  if (node.balance > 1) {
    if (node.right!.balance < 0) node.right = rotateRight(node.right!);
    return rotateLeft(node);
  }
  return node;
}

/** g_tree_node_rotate_left, with its balance arithmetic. */
function rotateLeft<K>(node: GNode<K>): GNode<K> {
  const right = node.right!;
  node.right = right.left;
  right.left = node;
  const a = node.balance;
  const b = right.balance;
  if (b <= 0) {
    right.balance = a >= 1 ? b - 1 : a + b - 2;
    node.balance = a - 1;
  } else {
    right.balance = a <= b ? a - 2 : b - 1;
    node.balance = a - b - 1;
  }
  return right;
}

/** g_tree_node_rotate_right. */
function rotateRight<K>(node: GNode<K>): GNode<K> {
  const left = node.left!;
  node.left = left.right;
  left.right = node;
  const a = node.balance;
  const b = left.balance;
  if (b <= 0) {
    left.balance = b > a ? b + 1 : a + 2;
    node.balance = a - b + 1;
  } else {
    left.balance = a <= -1 ? b + 1 : a + b + 2;
    node.balance = a + 1;
  }
  return left;
}
