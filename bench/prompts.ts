/** The benchmark's prompts: one stream uses the first, batched rows all eight. */
export const PROMPTS = ['Once upon a time', 'The little dog', 'One day, Lily', 'Tom had a big', 'The sun was', 'A bird sat on', 'Mom said that', 'There was a tree'];
