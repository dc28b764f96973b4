/** npm run test:stress runs these at full size; .ci/run sets STRESS_SCALE=ci for a bounded run. */
export const CI_SCALE = process.env.STRESS_SCALE === 'ci';
export const scaled = (full: number, ci: number): number => (CI_SCALE ? ci : full);
