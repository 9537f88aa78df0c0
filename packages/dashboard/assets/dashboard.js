// Live sections: the server sends a section again when it changed; it replaces the old one.
(function () {
  const live = document.body.dataset.live;
  if (live) {
    const events = new EventSource(live);
    events.addEventListener('section', (event) => {
      const { id, html } = JSON.parse(event.data);
      const old = document.getElementById(id);
      if (old) old.outerHTML = html;
    });
  }
  const data = document.getElementById('chart-data');
  if (data && window.Chart) {
    const series = JSON.parse(data.textContent);
    const colours = { succeeded: '#1a7f37', 'rolled-back': '#bf8700', failed: '#cf222e', cancelled: '#8c959f' };
    for (const [id, key] of [
      ['by-week', 'week'],
      ['by-month', 'month'],
    ]) {
      const s = series[key];
      new window.Chart(document.getElementById(id), {
        type: 'bar',
        data: { labels: s.labels, datasets: s.datasets.map((d) => ({ ...d, backgroundColor: colours[d.label] })) },
        options: {
          animation: false,
          maintainAspectRatio: false,
          plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
          scales: { x: { stacked: true }, y: { stacked: true, ticks: { precision: 0 } } },
        },
      });
    }
  }
})();
