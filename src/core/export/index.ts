// Operator export: recordings or snapshots of site cameras, sent to Clearance through the upload queue.
export {
  exportToClearance,
  loadExportChoices,
  OperatorExportError,
  type CameraExportOutcome,
  type ExportCatalog,
  type OperatorExportDeps,
  type OperatorExportMedia,
  type OperatorExportRequest,
  type OperatorExportResult,
} from './operatorExport';
