/**
 * The notebook side of werkplaats: `import { show, plot, startLocalStudy } from "werkplaats/notebook"`.
 * Rich display (HTML tables, SVG plots) in the werkplaats Jupyter kernel, plain text elsewhere.
 */
export { show, showMarkdown, render, inNotebook, type Rendering } from "./show.js";
export { plot, countChart, meanChart, histogramChart, coefficientPlot, rocChart, calibrationChart, countBins, type CountableQuery } from "./plots.js";
export { Figure } from "./figure.js";
export { htmlTable, countTable, meanTable, modelTable, evaluationTable, refusalNotice, type TableCell, type HtmlTableOptions } from "./html.js";
export { barChart, histogram, forestPlot, rocCurve, calibrationPlot, niceTicks, type Bar, type HistogramBin, type ForestRow } from "./svg.js";
export { escapeText, escapeAttribute } from "./markup.js";
export { modelProgress, formatIteration, type IterationReport, type ProgressOptions } from "./progress.js";
export { startLocalStudy, type LocalStudy, type LocalStudyOptions } from "./local.js";
export { modelView, evaluationView, suppressionOf, refusalOf, type ModelView, type EvaluationView } from "./shapes.js";
