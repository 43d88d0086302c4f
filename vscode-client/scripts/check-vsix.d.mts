export function vsixEntries(path: string): Promise<string[]>;
export function vsixProblems(names: readonly string[], sizeBytes: number): string[];
