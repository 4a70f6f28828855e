/** The plug-in groups of the page's gradient-check suite, one per op family (see api.ts), run after the built-in ones. */
import type { PageCheckGroup } from './api';
import { shapeGroup } from './shape';
import { reduceGroup } from './reduce';
import { nnPageChecks } from './nn';
import { unaryPageGroup } from './unary';
import { broadcastGroup } from './broadcast';
import { optimPageChecks } from './optim';
import { matmulTiledGroup } from './matmul_tiled';
import { convFusedGroup } from './conv_fused';
import { smatrixGroup } from './smatrix';
import { halfPageGroup } from './half';

export const PAGE_GROUPS: readonly PageCheckGroup[] = [
  shapeGroup,
  reduceGroup,
  nnPageChecks,
  unaryPageGroup,
  broadcastGroup,
  optimPageChecks,
  matmulTiledGroup,
  convFusedGroup,
  smatrixGroup,
  halfPageGroup,
];
