/**
 * The contract's error envelope: `{error, message, type}` plus `details` where it has some. Types
 * only, with no import, so the console's browser build shares it with the Worker.
 */
export interface ErrorBody {
  error: string;
  message: string;
  type: string;
  details?: unknown;
}
