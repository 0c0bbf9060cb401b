import { appDeploymentMembers, appDeployments, findApp, listApps } from '../apps.ts';
import type { Db } from '../database.ts';
import type { AppDeployment, Deployment } from '../schema.ts';

/** One member deployment of an app deployment, as the dashboard shows it. */
export interface AppMemberRow {
  service: string;
  deploymentId: number;
  phase: Deployment['phase'];
  stepIndex: number;
  steps: number[];
  stepPassed: number | null;
  paused: boolean;
  outcome: Deployment['outcome'];
  reason: string | null;
}

export interface AppDeploymentRow {
  id: number;
  image: string | null;
  requestedBy: string;
  createdAt: Date;
  finishedAt: Date | null;
  outcome: AppDeployment['outcome'];
  reason: string | null;
  members: AppMemberRow[];
}

export interface AppRow {
  name: string;
  services: string[];
  preDeployCommand: string | null;
  newest: AppDeploymentRow | undefined;
}

/** An app's page: the app and its deployments, newest first. */
export interface AppDashboard {
  app: Omit<AppRow, 'newest'>;
  deployments: AppDeploymentRow[];
}

async function rowOf(db: Db, appDeployment: AppDeployment): Promise<AppDeploymentRow> {
  const members = await appDeploymentMembers(db, appDeployment.id);
  return {
    id: appDeployment.id,
    image: appDeployment.image,
    requestedBy: appDeployment.requested_by,
    createdAt: appDeployment.created_at,
    finishedAt: appDeployment.finished_at,
    outcome: appDeployment.outcome,
    reason: appDeployment.reason,
    members: members.map((member) => ({
      service: member.service_name,
      deploymentId: member.id,
      phase: member.phase,
      stepIndex: member.step_index,
      steps: member.policy?.first === true ? [100] : (member.policy?.steps ?? []),
      stepPassed: member.app_step_passed,
      paused: member.paused,
      outcome: member.outcome,
      reason: member.reason,
    })),
  };
}

/** Every app with its newest deployment: the fleet page's apps section. */
export async function appsDashboard(db: Db): Promise<AppRow[]> {
  const apps = await listApps(db);
  return Promise.all(
    apps.map(async ({ app, members }) => {
      const newest = (await appDeployments(db, app.id, 1))[0];
      return {
        name: app.name,
        services: members.map((m) => m.service.name),
        preDeployCommand: app.pre_deploy_command,
        newest: newest === undefined ? undefined : await rowOf(db, newest),
      };
    }),
  );
}

/** `/apps/NAME`; undefined when there is no such app. */
export async function appDashboard(db: Db, name: string): Promise<AppDashboard | undefined> {
  const found = await findApp(db, name).catch(() => undefined);
  if (found === undefined) return undefined;
  const list = await appDeployments(db, found.app.id, 20);
  return {
    app: {
      name: found.app.name,
      services: found.members.map((m) => m.service.name),
      preDeployCommand: found.app.pre_deploy_command,
    },
    deployments: await Promise.all(list.map((appDeployment) => rowOf(db, appDeployment))),
  };
}
