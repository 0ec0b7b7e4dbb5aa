// Models page: one uPlot chart per measure, one series per model, from the JSON
// block the page carries (no inline script: the page's CSP forbids it).
(function () {
  "use strict";
  var block = document.getElementById("usage-data");
  if (!block || typeof uPlot === "undefined") return;
  var usage = JSON.parse(block.textContent);
  // Colour-blind safe (Okabe-Ito), dark enough on white.
  var colours = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
                 "#000000", "#8c564b", "#7f7f7f", "#17becf", "#bcbd22", "#9467bd", "#444444"];
  Object.keys(usage.measures).forEach(function (name) {
    var target = document.getElementById("chart-" + name);
    if (!target) return;
    var measure = usage.measures[name];
    var series = [{}].concat(usage.keys.map(function (key, i) {
      return { label: key, stroke: colours[i % colours.length], width: 2, spanGaps: false };
    }));
    var width = Math.max(300, target.clientWidth || 600);
    new uPlot({
      width: width,
      height: 220,
      series: series,
      scales: { x: { time: true, range: usage.range } },
      axes: [{}, { size: 70 }],
      legend: { show: true },
    }, [usage.x].concat(measure.data), target);
  });
})();
