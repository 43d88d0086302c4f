export const SCHEMA: string;
export const OUTPUT: string;
export function render(schemaText?: string): Promise<string>;
