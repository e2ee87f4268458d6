/** The Studio's one way to the server: the client, its error helpers and the generated types. */
export { FineTuningAPI, splitRef } from './client';
export type { IChatSettings, IUploadOptions } from './client';
export { API_NAMESPACE, APIError, describeError, errorBody } from './request';
export type { IErrorBody } from './request';
export type * from './types';
