/* Find in the browser (viz/app/find.py): its URL. The excerpts come in through cellscope.showHtml. */
window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.find = {
  /* The URL names the target ranked: a regex, a span, or else the concept. */
  syncUrl: function (checkpoint, mode, concept, regex, start, stop, run) {
    const params = {run: run, checkpoint: checkpoint};
    if (mode === 'regex') params.regex = regex;
    else if (mode === 'span' && start !== null && start !== undefined && stop !== null && stop !== undefined) {
      params.span = start + '-' + stop;
    } else params.concept = concept;
    cellscope.syncUrl(params);
  },
};
