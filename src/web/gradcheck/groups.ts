/** The plug-in groups of the page's gradient-check suite, one per op family (see api.ts), run after the built-in ones. */
import type { PageCheckGroup } from './api';
import { shapeGroup } from './shape';
import { reduceGroup } from './reduce';
import { matmulTiledGroup } from './matmul_tiled';

export const PAGE_GROUPS: readonly PageCheckGroup[] = [
  shapeGroup,
  reduceGroup,
  matmulTiledGroup,
];
