/* Browse in the browser (viz/app/browse.py): the text window painted and hovered through cellscope.js, the
   keys j/k, excerpt clicks, and a selected span offered to Find.

   What the server sends:
   b-window {key, start, stop, total, html, marks, guesses, percent, loss}  once per (checkpoint, window): html is
       the window's uncoloured spans, inserted once; marks the [a, b) stretches of the URL's concept, to
       underline; guesses, percent and loss are the hover box's (viz/app/textview.py).
   b-values {key, start, n, checkpoint, layer, cell, kind, label, lo, step, colour, prefix, levels}  per cell
       switch: levels is base64, one byte per character on the scale whose classes start with prefix ("v" the
       cell's, "l" the loss's, "d" the advantage's on the Δloss scale; viz.colors). Nothing else is sent to recolour.
   b-exact {key, values}  asked for (b-exact-req) on first hover: the cell's raw float32 values for the window;
       when colour is loss or advantage, each character's LSTM loss, then its n-gram loss where there is one.
   b-painted  "checkpoint|layer|cell|kind" once a new cell's colours are on screen: only then does the server
       send its histogram and strongest positions.
   #b-text gets data-window and data-painted (the keys painted), which the tests and bench/dashboard_speed.py
   wait on. */
(function () {
  'use strict';
  const view = {vals: null, focus: null};

  function paint(win, vals) {
    const box = document.getElementById('b-text');
    if (!box || !win) return;
    if (box.dataset.window !== win.key) {
      box.innerHTML = win.html;
      box._p = cellscope.painter(box);
      box._p.hover = cellscope.hoverData(win);
      box._tip = tip;
      cellscope.mark(box._p, 'u', win.marks);
      box.dataset.window = win.key;
      delete box.dataset.painted;
      box.scrollTop = 0;
    }
    if (vals && vals.start === win.start && vals.n === win.stop - win.start && box.dataset.painted !== vals.key) {
      cellscope.paint(box._p, vals.levels, vals.prefix);
      box.dataset.painted = vals.key;
      view.vals = vals;
      if (view.focus !== null) focus(box);
      const cell = [vals.checkpoint, vals.layer, vals.cell, vals.kind].join('|');
      if (cell !== box._cell) {  // a new window of the same cell needs no new histogram
        box._cell = cell;
        cellscope.afterPaint('b-painted', cell);
      }
    }
  }

  /* Outline the position an excerpt pointed at and scroll it into view. */
  function focus(box) {
    const i = view.focus - box._p.start;
    view.focus = null;
    cellscope.mark(box._p, 'at', [[i, i + 1]]);
    if (box._p.spans[i]) box._p.spans[i].scrollIntoView({block: 'center'});
  }

  function tip(span) {
    const box = document.getElementById('b-text'), vals = view.vals;
    const painted = vals && box.dataset.painted === vals.key ? vals : null;
    if (painted && cellscope.ask(box._p, vals.key)) {
      window.dash_clientside.set_props('b-exact-req', {data: {
        key: vals.key, checkpoint: vals.checkpoint, layer: vals.layer, cell: vals.cell, kind: vals.kind,
        start: vals.start, n: vals.n, colour: vals.colour}});
    }
    const at = cellscope.tipAt(span, box._p, painted);
    if (at && painted && painted.colour !== 'cell') at.value = charLoss(box._p, painted, at.pos - box._p.start);
    return at;
  }

  /* The hover box's value when loss colours the text: this character's own loss (the box's last line is the
     next one's), and the n-gram's beside it where there is one. */
  function charLoss(p, vals, i) {
    const exact = p.exact && p.exact.key === vals.key ? p.exact.values : null;
    if (!exact) return '';
    const lstm = exact[i], ngram = exact.length > vals.n ? exact[vals.n + i] : NaN;
    if (Number.isNaN(lstm)) return 'no loss (nothing before it)';
    const advantage = ngram - lstm;
    return 'this char: LSTM loss ' + lstm.toFixed(2) + (Number.isNaN(ngram) ? '' : ', n-gram ' + ngram.toFixed(2) +
        ', advantage ' + (advantage >= 0 ? '+' : '') + advantage.toFixed(2));
  }

  /* j / → next cell, k / ← previous cell; not while typing or working a menu. */
  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) ||
              (t.closest && t.closest('[role="combobox"], [role="listbox"], [role="menu"], .dash-dropdown')))) return;
    const id = {j: 'b-next', ArrowRight: 'b-next', k: 'b-prev', ArrowLeft: 'b-prev'}[e.key];
    const button = id && document.getElementById(id);
    if (button) {
      e.preventDefault();
      button.click();
    }
  });

  /* An excerpt's click outlines its position, moving the window there first when it is outside. */
  document.addEventListener('click', function (e) {
    const ex = e.target.closest && e.target.closest('#b-excerpts .ex');
    const box = document.getElementById('b-text');
    if (!ex || !box || !box._p) return;
    view.focus = Number(ex.dataset.pos);
    const i = view.focus - box._p.start;
    if (i >= 0 && i < box._p.spans.length) focus(box);
    else window.dash_clientside.set_props('b-start', {value: Number(ex.dataset.start)});
  });

  /* Selecting text in the window offers to rank every cell against that span (the Find view, LSTMVis-style). */
  function positionOf(node) {
    const el = node && (node.nodeType === 1 ? node : node.parentElement);
    const col = el && el.closest('#b-text .col');
    const ch = col ? col.querySelector('.ch') : el && el.closest('#b-text .ch');
    return ch ? Number(ch.dataset.i) : NaN;
  }

  document.addEventListener('mouseup', function () {
    const link = document.getElementById('b-span-link');
    if (!link) return;
    const sel = window.getSelection();
    const a = positionOf(sel && sel.anchorNode), b = positionOf(sel && sel.focusNode);
    if (sel.isCollapsed || Number.isNaN(a) || Number.isNaN(b)) {
      link.hidden = true;
      return;
    }
    const lo = Math.min(a, b), hi = Math.max(a, b) + 1, here = new URLSearchParams(window.location.search);
    const q = new URLSearchParams();
    ['run', 'checkpoint'].forEach(k => { if (here.get(k)) q.set(k, here.get(k)); });
    q.set('span', lo + '-' + hi);
    link.href = '/find?' + q;
    link.textContent = 'rank cells against the selected span ' + lo + '–' + hi + ' →';
    link.hidden = false;
  });

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.browse = {
    paint: paint,

    syncUrl: function (checkpoint, layer, cell, kind, start, size, mode, colour, run, concept) {
      cellscope.syncUrl({run: run, checkpoint: checkpoint, layer: layer, cell: cell, kind: kind, start: start || 0,
                         size: size, top5: mode === 'top5' ? 1 : null, colour: colour === 'cell' ? null : colour,
                         concept: concept});
    },

    keepExact: function (exact) {
      const box = document.getElementById('b-text');
      if (!exact || !box || !box._p) return;
      box._p.exact = {key: exact.key, values: cellscope.floats(exact.values)};
      cellscope.retip();
    },
  };
})();
