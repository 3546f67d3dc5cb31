// The characters elasticsearch-keystore accepts in a setting name; Kubernetes
// Secret keys allow the same set. One pattern for what the scan accepts from
// SOURCE_DIR and what a keystore record may hold, so the two cannot drift.

export const SETTING_NAME = /^[A-Za-z0-9_\-.]+$/;
export const SETTING_NAME_RULE = 'allowed: A-Z a-z 0-9 _ - .';
