// @splitlora/privacy: what a curious server can learn from a volunteer's uploads, measured.
export * from './attack';
