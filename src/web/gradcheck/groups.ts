/** The plug-in groups of the page's gradient-check suite, one per op family (see api.ts), run after the built-in ones. */
import type { PageCheckGroup } from './api';
import { broadcastGroup } from './broadcast';

export const PAGE_GROUPS: readonly PageCheckGroup[] = [
  broadcastGroup,
];
