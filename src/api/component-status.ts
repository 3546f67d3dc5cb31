// What a capability reports about itself under /health and its own status
// route: a state the API reasons about (`failed`, `syncing`, `waiting`, ...)
// and whatever fields help a person, shown as they are.

export interface ComponentStatus {
  readonly state: string;
  readonly [field: string]: unknown;
}
