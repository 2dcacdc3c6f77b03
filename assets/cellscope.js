/* What every text view shares in the browser. window.cellscope: the painter, the hover box, the URL sync, used
   by the page scripts (browse.js, compare.js, find.js, one per page of viz/app). window.dash_clientside.cellscope:
   the clientside callbacks any page names (cell and page steppers, server-made HTML, the run selector).

   A text view's spans come from viz/text_html.py, one <span class="ch" data-i="POSITION"> per character
   (escaped there), inserted once per text window as HTML. From then on only their classes change:
   painter(root)             the .ch spans under root, each with base classes ("ch", plus marks: "u" under a
                             concept's positions, "at" around a chosen one) and one level class.
   paint(p, levels, prefix)  levels: base64, one uint8 per span; span i shows base classes + prefix + level.
                             The prefix names the scale: "v", the activation scale of viz.colors; a view with
                             its own scale (a diverging one for a loss difference, say) brings its own classes.
                             Only the spans whose level changed are restyled, and of those only the spans in
                             p.live, where a view sets it: [a, b) ranges of the spans on screen (Compare's
                             rows); refresh(p, a, b) restyles a range once it comes into view.
   mark(p, cls, stretches)   the spans of each [a, b) stretch (counted from the painter's first span) get the
                             base class cls; the others lose it.
   A root with a _tip(span) function gets the hover box over its spans: _tip returns tipAt(...) or null.
   Everything the box shows goes in as textContent, never as HTML. */
(function () {
  'use strict';
  const NO = () => window.dash_clientside.no_update;
  let shownRun = null;  /* the run the page shows, as the selector says it */

  function bytes(b64) {
    const s = atob(b64), out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  const floats = b64 => new Float32Array(bytes(b64).buffer);
  const signed = (v, digits) => (v >= 0 ? '+' : '') + v.toFixed(digits);

  /* Span i's base classes are p.bases[p.base[i]]: a handful of distinct strings ("ch", "ch u", ...). */
  function painter(root) {
    const spans = Array.from(root.getElementsByClassName('ch'));
    return {spans: spans, base: new Uint8Array(spans.length), bases: ['ch'], classes: [], marked: {}, levels: null,
            applied: new Int16Array(spans.length).fill(-1), live: null, prefix: null,
            start: spans.length ? Number(spans[0].dataset.i) : 0, hover: null, exact: null, asked: null};
  }

  /* The whole class attribute of a span with base classes p.bases[id], at each level of the painted scale:
     built once per base and scale, so a repaint builds no string (measured on 40,000 spans: 48 ms of script,
     56 when each span's class was concatenated). */
  function classes(p, id) {
    return p.classes[id] || (p.classes[id] = Array.from({length: 256}, (_, k) => p.bases[id] + ' ' + p.prefix + k));
  }

  function paint(p, levels, prefix) {
    p.levels = bytes(levels);
    if (prefix !== p.prefix) {
      p.prefix = prefix;
      p.classes = [];
      p.applied.fill(-1);
    }
    for (const [a, b] of p.live || [[0, p.spans.length]]) refresh(p, a, b);
  }

  /* Spans [a, b) shown at the painted levels: those whose level is another are restyled. */
  function refresh(p, a, b) {
    const next = p.levels, spans = p.spans, base = p.base, applied = p.applied;
    if (next === null) return;
    for (let i = a, n = Math.min(b, next.length, spans.length); i < n; i++) {
      if (applied[i] !== next[i]) {
        spans[i].className = classes(p, base[i])[next[i]];
        applied[i] = next[i];
      }
    }
  }

  function restyle(p, i, bases) {
    let id = p.bases.indexOf(bases);
    if (id < 0) id = p.bases.push(bases) - 1;
    p.base[i] = id;
    if (p.levels === null) return;  // not painted yet: the first paint styles every span
    const level = p.levels[i];
    p.spans[i].className = level === undefined ? bases : classes(p, id)[level];
    if (level !== undefined) p.applied[i] = level;
  }

  function mark(p, cls, stretches) {
    const now = new Set(), had = new Set(p.marked[cls]), bases = i => p.bases[p.base[i]];
    for (const [a, b] of stretches) {
      for (let i = Math.max(a, 0); i < Math.min(b, p.spans.length); i++) now.add(i);
    }
    for (const i of had) if (!now.has(i)) restyle(p, i, bases(i).split(' ').filter(c => c !== cls).join(' '));
    for (const i of now) if (!had.has(i)) restyle(p, i, bases(i) + ' ' + cls);
    p.marked[cls] = Array.from(now);
  }

  /* The hover data of a window (viz/app/textview.py hover_data), decoded once. */
  const hoverData = h => ({guesses: h.guesses, percent: bytes(h.percent), loss: floats(h.loss)});

  /* True once per painted key while the cell's exact values (p.exact) are missing: the page then asks for them. */
  function ask(p, key) {
    if ((p.exact && p.exact.key === key) || p.asked === key) return false;
    p.asked = key;
    return true;
  }

  /* What the hover box shows at span of painter p: vals is the painted cell {key, label, kind, lo, step} or
     null; p.hover the window's guesses and loss, p.exact {key, values} the cell's raw values (until they come,
     the value is the middle of the span's level). The value reads as the export's title text does. */
  function tipAt(span, p, vals) {
    const pos = Number(span.dataset.i), i = pos - p.start;
    if (!(i >= 0 && i < p.spans.length)) return null;
    const at = {pos: pos, next: i + 1 < p.spans.length ? p.spans[i + 1].textContent : null};
    if (vals && p.levels) {
      const exact = p.exact && p.exact.key === vals.key ? p.exact.values[i] : null;
      if (exact === null) at.value = vals.label + ' ≈ ' + signed(vals.lo + (p.levels[i] + 0.5) * vals.step, 2);
      else if (vals.kind === 'c') at.value = 'tanh(c) ' + signed(Math.tanh(exact), 3) + ' (c ' + signed(exact, 3) + ')';
      else at.value = vals.label + ' ' + signed(exact, 3);
    }
    if (p.hover) {
      at.guesses = Array.from(p.hover.guesses[i]);
      at.percent = at.guesses.map((_, k) => p.hover.percent[5 * i + k]);
      at.loss = p.hover.loss[i];
    }
    return at;
  }

  function tipBox() {
    let tip = document.getElementById('cs-tip');
    if (!tip) {
      tip = document.createElement('div');
      tip.id = 'cs-tip';
      tip.className = 'cs-tip';
      tip.hidden = true;
      document.body.appendChild(tip);
    }
    return tip;
  }

  function add(parent, tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text !== undefined) el.textContent = text;
    parent.appendChild(el);
    return el;
  }

  /* The lines of the export's title text (viz/export.py), in its order: "#position  value", the five guesses
     for the next character (here with bars, the actual next one in bold), "loss x nats". */
  function showTip(span, at) {
    const tip = tipBox();
    tip.replaceChildren();
    add(tip, 'div', 'tip-head', '#' + at.pos + (at.value ? '  ' + at.value : ''));
    if (at.guesses) {
      add(tip, 'div', 'tip-sub', 'next:');
      const table = add(tip, 'div', 'tip-guesses');
      at.guesses.forEach((g, k) => {
        const percent = at.percent[k] + '%';
        const row = add(table, 'div', 'tip-guess' + (g === at.next ? ' hit' : ''));
        add(row, 'span', 'tip-char', g);
        add(add(row, 'span', 'tip-bar'), 'span', 'tip-fill').style.width = percent;
        add(row, 'span', 'tip-p', percent);
      });
      if (!Number.isNaN(at.loss)) add(tip, 'div', 'tip-loss', 'loss ' + at.loss.toFixed(2) + ' nats');
    }
    tip.hidden = false;
    const r = span.getBoundingClientRect(), w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = Math.max(4, Math.min(r.left, window.innerWidth - w - 8)) + 'px';
    tip.style.top = (r.bottom + h + 8 < window.innerHeight ? r.bottom + 6 : Math.max(4, r.top - h - 6)) + 'px';
  }

  let hovered = null;  // the span under the pointer, inside a root with a _tip

  /* Show (again, once more data has come) the box of the hovered span, or hide it. */
  function retip() {
    let root = hovered && document.body.contains(hovered) ? hovered : null;
    while (root && !root._tip) root = root.parentElement;
    const at = root && root._tip(hovered);
    if (at) showTip(hovered, at);
    else tipBox().hidden = true;
  }

  document.addEventListener('mouseover', function (e) {
    const t = e.target, col = t.closest && t.closest('.cs-text .col');  // top-5 layout: a column per character
    const span = col ? col.querySelector('.ch') : t.closest && t.closest('.ch');
    if (span === hovered) return;
    hovered = span;
    retip();
  });

  /* Page links keep the view's query (run, checkpoint, cell...): each page reads what it knows. */
  document.addEventListener('click', function (e) {
    const link = e.target.closest && e.target.closest('a.nav-link');
    if (link) link.href = link.getAttribute('href').split('?')[0] + window.location.search;
  });

  /* Keep the address bar a link to the view without a reload (Dash's router would re-render the page): each
     param that has a value, in the order given. */
  function syncUrl(params) {
    const q = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== null && value !== undefined && value !== '') q.set(name, value);
    }
    window.history.replaceState(window.history.state, '', window.location.pathname + '?' + q);
  }

  /* Tell the server (a store that later callbacks listen to) once the frame showing a repaint is drawn, so
     what follows a repaint (histogram, charts) never delays it. */
  function afterPaint(id, data) {
    requestAnimationFrame(() => setTimeout(() => window.dash_clientside.set_props(id, {data: data})));
  }

  window.cellscope = {bytes: bytes, floats: floats, painter: painter, paint: paint, refresh: refresh, mark: mark,
                      hoverData: hoverData, ask: ask, tipAt: tipAt, retip: retip, syncUrl: syncUrl,
                      afterPaint: afterPaint};

  const triggered = () => window.dash_clientside.callback_context.triggered_id;

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.cellscope = {
    /* The previous or next cell (button X-prev or X-next), on into the next layer after a layer's last. */
    stepCell: function (prev, next, layer, cell, shape) {
      const step = triggered().endsWith('-prev') ? -1 : 1;
      const total = shape.layers * shape.cells;
      const flat = ((layer || 0) * shape.cells + (cell || 0) + step + total) % total;
      const newLayer = Math.floor(flat / shape.cells);
      return [newLayer === layer ? NO() : newLayer, flat % shape.cells];
    },

    /* The window one page back or on (button X-page-prev or X-page-next); last is the last position. */
    stepPage: function (prev, next, start, size, last) {
      const moved = triggered().endsWith('-prev') ? Math.max(0, (start || 0) - size) : (start || 0) + size;
      return moved === start || moved > last ? NO() : moved;
    },

    /* Server-made HTML (escaped by viz.text_html) from the store X-data into the element X. */
    showHtml: function (html) {
      const id = window.dash_clientside.callback_context.inputs_list[0].id.replace(/-data$/, '');
      const el = document.getElementById(id);
      if (el) el.innerHTML = html || '';
    },

    /* The run the page shows: the URL's, or the first served one where the URL names none it knows. */
    showRun: function (pathname, options) {
      const run = new URLSearchParams(window.location.search).get('run');
      const names = (options || []).map(o => o.value);
      shownRun = names.includes(run) ? run : (names.length ? names[0] : null);
      return shownRun === null ? NO() : shownRun;
    },

    /* A page that waits for its run's first recording (an .awaiting-recording notice) reloads once the poll
       (viz/app/live.py) sees one. */
    reloadWhenRecorded: function (served) {
      const waiting = document.querySelector('.awaiting-recording');
      const run = waiting && (served || {})[waiting.dataset.run];
      if (run && run.recordings.length) window.location.reload();
    },

    openRun: function (run) {
      if (run && run !== shownRun) {  /* the user chose another run, not showRun */
        window.location.href = window.location.pathname + '?run=' + encodeURIComponent(run);
      }
    },
  };
})();
