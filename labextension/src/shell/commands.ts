/**
 * Palette and launcher entries: "New fine-tuning job", "Upload dataset", "Open MLflow", "New notebook from the
 * quick-start template".
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, ICommandPalette, IFrame, showErrorMessage } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ILauncher } from '@jupyterlab/launcher';

import { tuneIcon } from './icons';
import { MainPanels } from './mainArea';
import { describeError } from '../api';
import { FineTuningSidebar, IStudio } from './sidebar';
import { requestUpload } from '../tabs/datasets';

export const CATEGORY = 'Fine-tuning';

export const CommandIDs = {
  newJob: 'jupyter-ft:new-job',
  uploadDataset: 'jupyter-ft:upload-dataset',
  openMlflow: 'jupyter-ft:open-mlflow',
  newNotebook: 'jupyter-ft:new-quickstart-notebook'
};

/** Not in the palette (it needs an argument): `app.commands.execute('jupyter-ft:open-job', {id})`. */
export const OPEN_JOB = 'jupyter-ft:open-job';

/**
 * Where the MLflow UI on the workspace's store answers, proxied behind Jupyter's login (server/mlflow_ui.py: it
 * starts on the first request and shows a "starting" page meanwhile; an external tracking server redirects).
 */
export function mlflowUrl(baseUrl: string): string {
  return URLExt.join(baseUrl, 'jupyter-ft', 'mlflow') + '/';
}

export function addCommands(
  app: JupyterFrontEnd,
  studio: IStudio,
  sidebar: FineTuningSidebar,
  panels: MainPanels,
  palette: ICommandPalette | null,
  launcher: ILauncher | null
): void {
  const { commands } = app;
  commands.addCommand(CommandIDs.newJob, {
    label: 'New fine-tuning job',
    caption: 'Open the Customize form for a new training job',
    icon: tuneIcon,
    execute: () => studio.openCustomize({})
  });
  commands.addCommand(CommandIDs.uploadDataset, {
    label: 'Upload dataset',
    caption: 'Add a dataset file (JSONL, CSV, Parquet, ...) to the catalog',
    icon: tuneIcon,
    execute: () => {
      app.shell.activateById(sidebar.id);
      sidebar.selectTab('datasets');
      requestUpload();
    }
  });
  commands.addCommand(CommandIDs.openMlflow, {
    label: 'Open MLflow',
    caption: "The MLflow UI on this workspace's tracking store, behind Jupyter's login",
    icon: tuneIcon,
    execute: async () => {
      const url = mlflowUrl(app.serviceManager.serverSettings.baseUrl);
      panels.showWidget('mlflow', 'MLflow', () => {
        const frame = new IFrame({
          sandbox: ['allow-scripts', 'allow-same-origin', 'allow-forms', 'allow-popups', 'allow-downloads']
        });
        frame.url = url;
        frame.addClass('jp-ft-mlflow');
        return frame;
      });
    }
  });
  commands.addCommand(CommandIDs.newNotebook, {
    label: 'New notebook from the quick-start template',
    caption: 'A copy of the DPO quick-start notebook (data, training, MLflow, evaluation) in the current folder',
    icon: tuneIcon,
    execute: async () => {
      try {
        const path = await studio.api.newNotebookFromTemplate('quickstart', app.serviceManager.contents);
        await commands.execute('docmanager:open', { path });
        return path;
      } catch (err) {
        await showErrorMessage('Could not create the quick-start notebook', describeError(err), [Dialog.okButton()]);
      }
    }
  });
  commands.addCommand(OPEN_JOB, {
    label: args => (args.id ? `Open job ${args.id}` : 'Open job'),
    execute: args => {
      if (typeof args.id !== 'string' || !args.id) {
        throw new Error(`${OPEN_JOB} needs {id: "<job id>"}`);
      }
      studio.openJob(args.id);
    }
  });
  for (const command of Object.values(CommandIDs)) {
    palette?.addItem({ command, category: CATEGORY });
  }
  let rank = 0;
  for (const command of Object.values(CommandIDs)) {
    launcher?.add({ command, category: CATEGORY, rank: rank++ });
  }
}
