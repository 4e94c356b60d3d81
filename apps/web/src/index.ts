// @splitlora/web: the volunteer page (main.ts) and the operator dashboard (dashboard/), built by
// vite into dist/web; nothing is imported from here.
export {};
