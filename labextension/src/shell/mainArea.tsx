/**
 * Main-area panels of the Studio (job view, Customize form, dataset preview, MLflow): one per id, reopened by id.
 * Content knows whether it is shown through `VisibleContext`, so hidden panels stop their live updates.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import React from 'react';

/**
 * Open (or bring to front) a main-area panel: `id` identifies it (the same id again activates the panel already
 * open), `render` draws its content.
 */
export type OpenMain = (id: string, title: string, render: () => JSX.Element) => void;

/** True while the main-area panel holding this React tree is visible. */
export const VisibleContext = React.createContext<boolean>(true);

class MainContent extends ReactWidget {
  constructor(private readonly draw: () => JSX.Element) {
    super();
    this.addClass('jp-ft-main');
  }
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.update();
  }
  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.update();
  }
  render(): JSX.Element {
    return <VisibleContext.Provider value={this.isVisible}>{this.draw()}</VisibleContext.Provider>;
  }
}

/** Opens main-area panels for one app; the same id activates the panel already open. */
export class MainPanels {
  private readonly open = new Map<string, Widget>();

  constructor(private readonly app: JupyterFrontEnd) {}

  show(id: string, title: string, render: () => JSX.Element, replace = false): void {
    const existing = this.open.get(id);
    if (existing && !existing.isDisposed) {
      if (!replace) {
        this.app.shell.activateById(existing.id);
        return;
      }
      existing.dispose();
    }
    const widget = new MainAreaWidget({ content: new MainContent(render) });
    this.add(id, title, widget);
  }

  /** A panel whose content is a ready widget (e.g. an IFrame). */
  showWidget(id: string, title: string, make: () => Widget): void {
    const existing = this.open.get(id);
    if (existing && !existing.isDisposed) {
      this.app.shell.activateById(existing.id);
      return;
    }
    this.add(id, title, new MainAreaWidget({ content: make() }));
  }

  private add(id: string, title: string, widget: MainAreaWidget): void {
    widget.id = `jupyter-ft-main-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    widget.title.label = title;
    widget.title.closable = true;
    widget.addClass('jp-ft-main-panel');
    this.open.set(id, widget);
    widget.disposed.connect(() => {
      if (this.open.get(id) === widget) {
        this.open.delete(id);
      }
    });
    this.app.shell.add(widget, 'main');
    this.app.shell.activateById(widget.id);
  }
}
