/* The Compare view's browser side (viz/app/compare.py): stacked rows of one text window, one per checkpoint,
   built once per window and recoloured from one uint8 level per character and row on a cell switch. */
window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.compare = {
    paintRows: function (win, lv) {
    const NO = window.dash_clientside.no_update, box = document.getElementById('cmp-rows');
    if (!box || !win) return NO;
    if (box.dataset.window !== win.key) {
        box.innerHTML = win.rows.map(r =>
            '<div class="cmp-row" style="display:flex;gap:0.8em;border-top:1px solid #ddd;padding:0.3em 0">' +
            '<div class="cmp-head" style="width:8em;flex:none;font-size:0.85em;color:#444">' + r.head +
            '</div><div class="cs-text cmp-text" style="flex:1;max-height:11em;overflow-y:auto;' +
            'position:relative">' + win.html[r.text] + '</div></div>').join('');
        const texts = Array.from(box.getElementsByClassName('cmp-text'));
        box._rows = texts.map(t => Array.from(t.getElementsByClassName('ch')));
        // Only the chunks within half a row's height of the scrolled-to lines are rendered (the browser's
        // own content-visibility: auto would render a whole viewport's margin around each row).
        const reveal = () => {
            box._revealing = false;
            for (const t of texts) {
                const top = t.scrollTop - t.clientHeight / 2, bottom = t.scrollTop + 1.5 * t.clientHeight;
                const chunks = Array.from(t.children);  // read every position first: one layout per row
                const near = chunks.map(c => c.offsetTop + c.offsetHeight >= top && c.offsetTop <= bottom);
                chunks.forEach((c, k) => { c.style.contentVisibility = near[k] ? 'visible' : 'hidden'; });
            }
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
        box._levels = box._rows.map(() => '');
        box.dataset.window = win.key;
        delete box.dataset.painted;
    }
    if (lv && lv.window === win.key && box.dataset.painted !== lv.key) {
        const names = Array.from({length: 256}, (_, k) => 'ch v' + k);
        box._rows.forEach((spans, r) => {
            const s = atob(lv.levels[r]), old = box._levels[r], n = Math.min(s.length, spans.length);
            for (let i = 0; i < n; i++) {
                const level = s.charCodeAt(i);
                if (level !== old.charCodeAt(i)) spans[i].className = names[level];  // unchanged: no restyle
            }
            box._levels[r] = s;
        });
        box.dataset.painted = lv.key;
        // What follows a repaint (charts, match, outline) is told once the browser has drawn the rows:
        // returning the key here would run Dash's bookkeeping for it before that frame.
        const key = lv.key;
        requestAnimationFrame(() => setTimeout(() => window.dash_clientside.set_props('cmp-painted', {data: key})));
    }
    return NO;
},

    outline: function (pos, painted) {
    const box = document.getElementById('cmp-rows');
    if (!box) return;
    (box._marked || []).forEach(s => { s.style.outline = ''; });
    box._marked = pos === null || pos === undefined ? [] :
        Array.from(box.querySelectorAll('.ch[data-i="' + Number(pos) + '"]'));
    box._marked.forEach(s => { s.style.outline = '2px solid #c0392b'; });
},

    stepPage: function (prev, next, start, size) {
    const back = window.dash_clientside.callback_context.triggered_id === 'cmp-page-prev';
    const input = document.getElementById('cmp-start'), last = input ? Number(input.max) : Infinity;
    const moved = Math.max(0, Math.min((start || 0) + (back ? -size : size), last));
    return moved === start ? window.dash_clientside.no_update : moved;
},

    syncUrl: function (checkpoints, layer, cell, kind, start, size, concept, pos, run, all) {
    if (layer === null || layer === undefined || cell === null || cell === undefined) return;
    const q = new URLSearchParams({run: run, layer: layer, cell: cell, kind: kind, start: start || 0,
                                   size: size, concept: concept});
    if (pos !== null && pos !== undefined) q.set('pos', pos);
    if (checkpoints && checkpoints.length !== all.length) q.set('checkpoints', checkpoints.join(','));
    window.history.replaceState(window.history.state, '', window.location.pathname + '?' + q);
}
};
