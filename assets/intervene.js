/* Intervene in the browser (viz/app/intervene.py): the window painted on the Δloss scale through cellscope.js,
   the hovered character's loss and guesses before and after the change, a clicked character sent for the
   "which cells matter" ranking, and the URL.

   What the server sends:
   iv-window {key, start, stop, html, guesses, percent, loss}  once per (checkpoint, window): html is the
       window's uncoloured spans, inserted once; guesses, percent and loss are the recording's, before the change
       (viz/app/textview.py hover_data).
   iv-change {key, window, levels, marks, guesses, percent, loss, ...}  per intervention: levels is base64, one
       byte per character on the Δloss scale (classes d0..d20); marks the [a, b) stretches changed, underlined;
       guesses, percent and loss are the model's after the change. Nothing else is sent to recolour.
   iv-pos  the clicked position, outlined.
   #iv-text gets data-window and data-painted (the keys shown), which the tests wait on. */
(function () {
  'use strict';
  const view = {before: null, after: null};

  function paint(win, change, pos) {
    const box = document.getElementById('iv-text');
    if (!box || !win) return;
    if (box.dataset.window !== win.key) {
      box.innerHTML = win.html;
      box._p = cellscope.painter(box);
      view.before = cellscope.hoverData(win);
      view.after = null;
      box.dataset.window = win.key;
      delete box.dataset.painted;
    }
    if (change && change.window === win.key && box.dataset.painted !== change.key) {
      cellscope.paint(box._p, change.levels, 'd');
      cellscope.mark(box._p, 'u', change.marks);
      view.after = cellscope.hoverData(change);
      box.dataset.painted = change.key;
    }
    const i = pos === null || pos === undefined ? null : pos - box._p.start;
    cellscope.mark(box._p, 'at', i === null ? [] : [[i, i + 1]]);
  }

  function add(parent, tag, text, style) {
    const el = document.createElement(tag);
    if (text !== undefined) el.textContent = text;
    if (style) el.style.cssText = style;
    parent.appendChild(el);
    return el;
  }

  /* The side panel: position, loss before -> after, the five guesses before and after side by side (the
     actual next character in bold). All of it goes in as textContent. */
  function show(span) {
    const box = document.getElementById('iv-text'), panel = document.getElementById('iv-at');
    const p = box && box._p, pos = Number(span.dataset.i), i = p ? pos - p.start : -1;
    if (!panel || !view.before || !(i >= 0 && i < p.spans.length)) return;
    const next = i + 1 < p.spans.length ? p.spans[i + 1].textContent : null, after = view.after;
    const lb = view.before.loss[i], la = after ? after.loss[i] : NaN;
    panel.replaceChildren();
    add(panel, 'div', '#' + pos + (next === null ? '' : '  next: ' + next), 'font-weight: 700; white-space: pre');
    if (!Number.isNaN(lb)) {
      add(panel, 'div', 'loss ' + lb.toFixed(2) + (after ? ' → ' + la.toFixed(2) + ' nats (Δ ' +
          (la >= lb ? '+' : '') + (la - lb).toFixed(2) + ')' : ' nats'));
    }
    const table = add(panel, 'table', undefined, 'border-collapse: collapse; margin-top: 0.3em');
    const head = add(table, 'tr');
    ['before', 'after'].forEach(h => add(head, 'th', h, 'text-align: left; padding-right: 2em'));
    for (let k = 0; k < 5; k++) {
      const row = add(table, 'tr');
      [view.before, after].forEach(h => {
        const g = h ? Array.from(h.guesses[i])[k] : '';
        const td = add(row, 'td', h ? g + '  ' + h.percent[5 * i + k] + '%' : '',
                       'white-space: pre; padding-right: 2em');
        if (h && g === next) td.style.fontWeight = '700';
      });
    }
  }

  document.addEventListener('mouseover', function (e) {
    const span = e.target.closest && e.target.closest('#iv-text .ch');
    if (span) show(span);
  });

  document.addEventListener('click', function (e) {
    const span = e.target.closest && e.target.closest('#iv-text .ch');
    if (span) window.dash_clientside.set_props('iv-pos', {data: Number(span.dataset.i)});
  });

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.intervene = {
    paint: paint,

    /* The URL names the intervention: a value only for an op that takes one, the concept, regex or span only
       where they choose the positions. */
    syncUrl: function (checkpoint, layer, cell, layer2, cell2, op, value, where, concept, regex, span, start, size,
                       pos, noValue, run) {
      const second = cell2 !== null && cell2 !== undefined && layer2 !== null && layer2 !== undefined;
      cellscope.syncUrl({run: run, checkpoint: checkpoint, layer: layer, cell: cell,
                         layer2: second ? layer2 : null, cell2: second ? cell2 : null, op: op,
                         value: noValue ? null : value, where: where === 'all' ? null : where,
                         concept: where === 'concept' || where === 'not' ? concept : null,
                         regex: where === 'regex' ? regex : null, span: where === 'span' ? span : null,
                         start: start || 0, size: size, pos: pos});
    },
  };
})();
