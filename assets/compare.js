/* Compare in the browser (viz/app/compare.py): one row per checkpoint over the same text window, each row a
   painter of cellscope.js, so a concept is underlined and a position outlined in every row as in Browse.

   What the server sends:
   cmp-window {key, rows: [{checkpoint, head, text}], html}  once per window: html holds each distinct text's
       uncoloured spans (rows over the same text share one string), heads are escaped on the server.
   cmp-levels {window, key, layer, cell, kind, label, lo, step, levels}  per cell switch: levels is one base64
       string per row, one byte per character.
   cmp-marks {window, key, rows}  the chosen concept's [a, b) stretches in each row, to underline.
   cmp-hover {window, key, row, values, guesses?, percent?, loss?}  a row's hover data, asked for (cmp-hover-req)
       on its first hover after a switch; the guesses and loss only once per window.
   #cmp-rows gets data-window, data-painted and data-marked (the keys shown), which the tests and
   bench/dashboard_speed.py wait on. */
(function () {
  'use strict';
  let shown = null;  // the painted levels

  function build(box, win) {
    box.innerHTML = win.rows.map(r =>
      '<div class="cmp-row"><div class="cmp-head">' + r.head + '</div>' +
      '<div class="cs-text cmp-text">' + win.html[r.text] + '</div></div>').join('');
    const texts = Array.from(box.getElementsByClassName('cmp-text'));
    box._rows = texts.map(t => cellscope.painter(t));
    texts.forEach((t, r) => { t._tip = span => tip(box, win, r, span); });
    // Only the chunks within half a row's height of the scrolled-to lines are rendered (the browser's own
    // content-visibility: auto would render a whole viewport's margin around each row), and only their spans
    // are recoloured by a cell switch (the painter's live ranges); the others once they come near.
    const bounds = texts.map(t => {  // the first span of each chunk, and the end
      const from = [0];
      for (const c of t.children) from.push(from[from.length - 1] + c.getElementsByClassName('ch').length);
      return from;
    });
    const reveal = () => {
      box._revealing = false;
      texts.forEach((t, r) => {
        const top = t.scrollTop - t.clientHeight / 2, bottom = t.scrollTop + 1.5 * t.clientHeight;
        const chunks = Array.from(t.children);  // read every position first: one layout per row
        const near = chunks.map(c => c.offsetTop + c.offsetHeight >= top && c.offsetTop <= bottom);
        const p = box._rows[r], from = bounds[r];
        p.live = [];
        chunks.forEach((c, k) => {
          c.style.contentVisibility = near[k] ? 'visible' : 'hidden';
          if (near[k]) p.live.push([from[k], from[k + 1]]);
        });
        for (const [a, b] of p.live) cellscope.refresh(p, a, b);
      });
    };
    texts.forEach(t => t.addEventListener('scroll', () => {
      for (const other of texts) {
        if (other !== t && other.scrollTop !== t.scrollTop) other.scrollTop = t.scrollTop;
      }
      if (!box._revealing) {
        box._revealing = true;
        requestAnimationFrame(reveal);
      }
    }));
    reveal();
    if (!box._clicks) {
      box._clicks = true;
      box.addEventListener('click', e => {
        const span = e.target.closest('.ch');
        if (span) window.dash_clientside.set_props('cmp-pos', {value: Number(span.dataset.i)});
      });
    }
    box.dataset.window = win.key;
    delete box.dataset.painted;
    delete box.dataset.marked;
  }

  function tip(box, win, r, span) {
    const p = box._rows[r], lv = shown && box.dataset.painted === shown.key ? shown : null;
    if (lv && cellscope.ask(p, lv.key)) {
      window.dash_clientside.set_props('cmp-hover-req', {data: {
        window: win.key, key: lv.key, row: r, checkpoint: win.rows[r].checkpoint, layer: lv.layer, cell: lv.cell,
        kind: lv.kind, start: p.start, stop: p.start + p.spans.length, guesses: p.hover === null}});
    }
    return cellscope.tipAt(span, p, lv);
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.compare = {
    paintRows: function (win, lv, marks) {
      const box = document.getElementById('cmp-rows');
      if (!box || !win) return;
      if (box.dataset.window !== win.key) build(box, win);
      if (marks && marks.window === win.key && box.dataset.marked !== marks.key) {
        box._rows.forEach((p, r) => cellscope.mark(p, 'u', marks.rows[r]));
        box.dataset.marked = marks.key;
      }
      if (lv && lv.window === win.key && box.dataset.painted !== lv.key) {
        box._rows.forEach((p, r) => cellscope.paint(p, lv.levels[r], 'v'));
        box.dataset.painted = lv.key;
        shown = lv;
        cellscope.afterPaint('cmp-painted', lv.key);
      }
    },

    /* Outline the position whose guesses are tabled, in every row. */
    outline: function (pos, painted) {
      const box = document.getElementById('cmp-rows');
      if (!box || !box._rows) return;
      const at = pos === null || pos === undefined ? null : Number(pos);
      box._rows.forEach(p => cellscope.mark(p, 'at', at === null ? [] : [[at - p.start, at - p.start + 1]]));
    },

    keepHover: function (h) {
      const box = document.getElementById('cmp-rows');
      if (!h || !box || box.dataset.window !== h.window) return;
      const p = box._rows[h.row];
      if (h.guesses) p.hover = cellscope.hoverData(h);
      p.exact = {key: h.key, values: cellscope.floats(h.values)};
      cellscope.retip();
    },

    syncUrl: function (checkpoints, layer, cell, kind, start, size, concept, pos, run, all) {
      cellscope.syncUrl({run: run, layer: layer, cell: cell, kind: kind, start: start || 0, size: size,
                         concept: concept, pos: pos,
                         checkpoints: checkpoints && checkpoints.length !== all.length ? checkpoints.join(',') : null});
    },
  };
})();
