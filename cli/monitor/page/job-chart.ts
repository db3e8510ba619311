/// <reference lib="dom" />
import { h, type JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { formatBytes } from './format.ts';

type VNode = JSX.Element;

const HEIGHT = 180;

/**
 * A job's throughput over time (bytes per second between the samples its
 * agent recorded) drawn by uPlot: 45 KB, canvas, no dependencies, well
 * kept; it styles through the DOM's style properties (CSSOM), which the
 * CSP's `style-src 'self'` allows, and its style sheet is copied into
 * monitor.css. The chart follows its container's width (phone or laptop).
 */
export function ThroughputChart({ points }: { points: { at: number; bytesPerSecond: number }[] }): VNode {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return undefined;
    const width = (): number => Math.max(240, Math.floor(element.clientWidth));
    const options: uPlot.Options = {
      width: width(),
      height: HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      // Each rate held over the interval that ends at its point: steps, not a line between averages.
      series: [{}, { label: 'throughput', stroke: '#0b5cad', width: 2, fill: 'rgba(11, 92, 173, 0.12)', paths: uPlot.paths.stepped?.({ align: -1 }), points: { show: false } }],
      axes: [{}, { size: 78, values: (_u, values) => values.map((v) => `${formatBytes(Math.round(v))}/s`) }],
    };
    const chart = new uPlot(options, [points.map((p) => p.at), points.map((p) => p.bytesPerSecond)], element);
    const resize = new ResizeObserver(() => chart.setSize({ width: width(), height: HEIGHT }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
    };
  }, [points]);
  return h('div', { class: 'throughput-chart', ref: box, role: 'img', 'aria-label': `throughput over time, ${points.length} points` });
}
