// Where a build's log is kept once it ends.
export const buildLogKey = (buildId: string) => `logs/${buildId}.log`;
