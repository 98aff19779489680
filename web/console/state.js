// Who is signed in and the names of agents and teams, shared by every component.
import { t } from './i18n.js';

export const directory = {
  me: null,
  teamIds: [],
  agents: new Map(),
  teams: new Map(),
};

/** Fires `change` when agents or teams were (re)loaded. */
export const directoryChanges = new EventTarget();

export function setDirectory({ me, teamIds, agents, teams }) {
  if (me !== undefined) directory.me = me;
  if (teamIds !== undefined) directory.teamIds = teamIds;
  if (agents) directory.agents = new Map(agents.map((a) => [a.id, a]));
  if (teams) directory.teams = new Map(teams.map((team) => [team.id, team]));
  directoryChanges.dispatchEvent(new Event('change'));
}

export function myId() {
  return directory.me ? directory.me.id : null;
}

export function agentName(id) {
  if (id === null || id === undefined) return '';
  const agent = directory.agents.get(id) || (directory.me && directory.me.id === id ? directory.me : null);
  return agent ? agent.name || agent.email : t('actor.agent', { id });
}

export function teamName(id) {
  const team = directory.teams.get(id);
  return team ? team.name : `#${id}`;
}
