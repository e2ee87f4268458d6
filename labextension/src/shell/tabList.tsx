/**
 * The Studio's tab list and what every tab receives. A tab is one entry in `TABS`: a new tab is added with one
 * line, in the order a person walks the no-code flow (data, models, jobs, evaluations, endpoints).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import React from 'react';

import { FineTuningAPI } from '../api';
import { DatasetsTab } from '../tabs/datasets';
import { JobsTab } from '../tabs/jobs';
import { EndpointsTab } from '../tabs/endpoints';
import { EvaluationsTab } from '../tabs/evaluations';
import { ModelsTab } from '../tabs/models';

/** What every tab receives. */
export interface ITabProps {
  api: FineTuningAPI;
  /** True while the sidebar is shown; tabs stop their live updates when it is hidden. */
  visible: boolean;
  app: JupyterFrontEnd;
  /**
   * Open (or bring to front) a main-area panel. `id` identifies it: opening the same id again activates the
   * panel already open instead of a second copy. `render` draws its content (a React tree).
   */
  openMain(id: string, title: string, render: () => JSX.Element): void;
  /** Open the Customize job form with these fields filled in (a partial TrainSpec, e.g. `{model: "..."}`). */
  openCustomize(prefill: object): void;
  /** Open the main-area view of one job (chart, log, spec, cancel, clone). */
  openJob(jobId: string): void;
}

export interface ISidebarTab {
  id: string;
  label: string;
  render: (props: ITabProps) => JSX.Element;
}

export const TABS: ISidebarTab[] = [
  { id: 'datasets', label: 'Datasets', render: props => <DatasetsTab {...props} /> },
  { id: 'models', label: 'Models', render: props => <ModelsTab {...props} /> },
  { id: 'jobs', label: 'Jobs', render: props => <JobsTab {...props} /> },
  { id: 'evaluations', label: 'Evaluations', render: props => <EvaluationsTab {...props} /> },
  { id: 'endpoints', label: 'Endpoints', render: props => <EndpointsTab {...props} /> }
];
