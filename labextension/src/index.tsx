/**
 * jupyter_ft's JupyterLab extension, the Studio: a left-sidebar "Fine-tuning" panel (datasets, models, jobs,
 * evaluations, endpoints) and the main-area panels it opens (Customize form, job view, dataset preview, MLflow),
 * all over the jupyter_ft REST API. Commands go to the palette and the launcher.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import React from 'react';

import { FineTuningAPI } from './api';
import { addCommands } from './shell/commands';
import { CustomizePanel } from './panels/customize';
import { tuneIcon } from './shell/icons';
import { JobView } from './panels/jobView';
import { MainPanels } from './shell/mainArea';
import { FineTuningSidebar, IStudio } from './shell/sidebar';

export const SIDEBAR_ID = 'jupyter-ft-sidebar';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter_ft:sidebar',
  description: 'The jupyter_ft Studio: datasets, models, jobs, evaluations and endpoints in the left sidebar.',
  autoStart: true,
  optional: [ILayoutRestorer, ICommandPalette, ILauncher],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    launcher: ILauncher | null
  ) => {
    const api = new FineTuningAPI(app.serviceManager.serverSettings);
    const panels = new MainPanels(app);
    const studio: IStudio = {
      api,
      app,
      openMain: (id, title, render) => panels.show(id, title, render),
      openCustomize: prefill =>
        panels.show('customize', 'New fine-tuning job', () => <CustomizePanel studio={studio} prefill={prefill} />, true),
      openJob: jobId => panels.show(`job-${jobId}`, `Job ${jobId}`, () => <JobView studio={studio} jobId={jobId} />)
    };
    const sidebar = new FineTuningSidebar(studio);
    sidebar.id = SIDEBAR_ID;
    sidebar.title.icon = tuneIcon;
    sidebar.title.caption = 'Fine-tuning';
    app.shell.add(sidebar, 'left', { rank: 650 });
    restorer?.add(sidebar, SIDEBAR_ID);
    addCommands(app, studio, sidebar, panels, palette, launcher);
  }
};

export default plugin;
