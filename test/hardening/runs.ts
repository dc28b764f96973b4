/** How many cases each property tries: a few hundred in npm test, more in npm run test:stress. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? (process.env.STRESS ? 3000 : 250));
