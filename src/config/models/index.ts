/**
 * The IOMMU models a config can name, each a builder from its config mapping to an engine model.
 * Adding a model: its engine file under src/engine/models/, its schema part in ../schema.ts
 * (IOMMU_SCHEMAS), and a builder here.
 */
import type { IommuDevice } from '../../engine';
import type { BuildContext } from '../context';
import type { Path } from '../document';
import { buildIntelIommu } from './intel-iommu';
import { buildSmmuv3 } from './smmuv3';
import { buildTable } from './table';
import { buildTzMpc } from './tz-mpc';
import { buildVirtioIommu } from './virtio-iommu';

export type IommuBuilder = (ctx: BuildContext, name: string, spec: Record<string, unknown>, path: Path) => IommuDevice | undefined;

export const IOMMU_BUILDERS: Readonly<Record<string, IommuBuilder>> = {
  'tz-mpc': buildTzMpc,
  table: buildTable,
  smmuv3: buildSmmuv3,
  'intel-iommu': buildIntelIommu,
  'virtio-iommu': buildVirtioIommu,
};
