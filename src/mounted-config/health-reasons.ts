// When the mounted configuration needs a person, in the words GET /health shows.

/** problem: why the configuration has no checksum (it names no path), if it has none. */
export function mountedConfigHealthReasons(problem: string | undefined): string[] {
  return problem ? [`the mounted configuration has no checksum: ${problem}`] : [];
}
