// The translation-path page. It receives plain values (src/common/path-messages.ts: HostToPage)
// and posts typed messages back (PageToHost); it builds its DOM with textContent only.
// @ts-check
(function () {
  // @ts-ignore acquireVsCodeApi is the webview's global
  const vscode = acquireVsCodeApi();
  /** @type {any} */
  let model;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function render() {
    const path = document.getElementById('path');
    const head = document.getElementById('head');
    if (!path || !head || !model) return;
    document.getElementById('title').textContent = model.title;
    document.getElementById('headline').textContent = model.headline;
    let entry = document.getElementById('entry');
    if (!entry) {
      entry = el('p');
      entry.id = 'entry';
      head.appendChild(entry);
    }
    entry.textContent = 'IOTLB entry: ' + model.entry;
    head.className = model.ok ? 'ok' : 'fault';
    path.textContent = '';
    model.columns.forEach((col, i) => {
      if (i > 0) path.appendChild(el('div', 'arrow', '\u2192'));
      const c = el('section', 'column ' + col.kind);
      c.setAttribute('data-kind', col.kind);
      c.appendChild(el('h2', '', col.title));
      if (col.subtitle) c.appendChild(el('div', 'sub', col.subtitle));
      const boxes = el('div', 'boxes');
      for (const b of col.boxes) boxes.appendChild(box(b));
      c.appendChild(boxes);
      path.appendChild(c);
    });
  }

  function box(b) {
    const e = el('button', 'box' + (b.fault ? ' fault' : '') + (b.step === model.current ? ' current' : ''));
    e.setAttribute('data-step', String(b.step));
    e.title = b.summary;
    e.appendChild(el('div', 'name', b.name));
    for (const r of b.raw) e.appendChild(el('div', 'raw', r));
    if (b.fields.length) {
      const t = el('table');
      for (const [k, v] of b.fields) {
        const tr = el('tr');
        tr.appendChild(el('td', 'k', k));
        tr.appendChild(el('td', 'v', v));
        t.appendChild(tr);
      }
      e.appendChild(t);
    }
    if (b.mapEntry) e.appendChild(el('div', 'map', 'written from map: line ' + (b.mapEntry.line + 1) + ' ' + b.mapEntry.text));
    if (b.source) e.appendChild(el('div', 'where', b.source.kind === 'config' ? 'config line ' + (b.source.line + 1) : b.source.size + ' bytes at ' + b.source.as + ' ' + b.source.addr));
    e.addEventListener('click', () => vscode.postMessage({ type: 'select', step: b.step }));
    return e;
  }

  window.addEventListener('message', (ev) => {
    const m = ev.data;
    if (m.type === 'path') {
      model = m.path;
      render();
    } else if (m.type === 'select' && model) {
      model.current = m.step;
      document.querySelectorAll('.box').forEach((b) => b.classList.toggle('current', b.getAttribute('data-step') === String(m.step)));
      const cur = document.querySelector('.box.current');
      if (cur) cur.scrollIntoView({ block: 'nearest', inline: 'nearest' });
    }
  });
  vscode.postMessage({ type: 'ready' });
})();
