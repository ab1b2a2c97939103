//! The root supervisor: starts every actor linked to itself and restarts a failed one with
//! exponential backoff inside a restart budget. Past the budget it does not stop the node: the
//! child is marked degraded (visible in `/healthz` and metrics) and the rest keeps running — with
//! no builder the chain carries on with plain blocks.
//!
//! ractor's default policy stops a parent when any child dies and has no restart of its own, so
//! this actor overrides `handle_supervisor_evt` explicitly. Other code reaches an actor through a
//! [`ChildRef`], which the supervisor points at the new actor after a restart, so handles held
//! elsewhere stay valid.

mod budget;
mod fault;

pub(crate) use budget::RestartPolicy;
pub(crate) use fault::{Fault, Faultable, faultable};

use crate::metrics as m;
use budget::{AfterFailure, RestartBudget};
use futures::future::BoxFuture;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, Message, RpcReplyPort, SpawnErr,
    SupervisionEvent, rpc::CallResult,
};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};
use tracing::{error, info, warn};

/// A task owned by an actor's state: aborted when the state is dropped, which happens however
/// the actor ends (ractor skips `post_stop` when a handler panics or fails, so cleanup that must
/// always happen lives here, not there).
#[derive(Debug)]
pub(crate) struct TaskGuard(tokio::task::JoinHandle<()>);

impl TaskGuard {
    /// Spawns `f` on the runtime, owned by the guard.
    pub(crate) fn spawn(f: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(f))
    }

    /// Whether the task has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl From<tokio::task::JoinHandle<()>> for TaskGuard {
    fn from(h: tokio::task::JoinHandle<()>) -> Self {
        Self(h)
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A reference to an actor that survives restarts.
#[derive(Debug)]
pub(crate) struct ChildRef<M: Message>(Arc<RwLock<Option<ActorRef<M>>>>);

impl<M: Message> Clone for ChildRef<M> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<M: Message> Default for ChildRef<M> {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(None)))
    }
}

impl<M: Message> ChildRef<M> {
    /// Points the reference at a (new) actor.
    pub(crate) fn set(&self, actor: ActorRef<M>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(actor);
    }

    /// The current actor, if one is running.
    pub(crate) fn get(&self) -> Option<ActorRef<M>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether an actor runs now.
    pub(crate) fn is_running(&self) -> bool {
        self.get()
            .is_some_and(|a| a.get_status() == ractor::ActorStatus::Running)
    }

    /// Sends without waiting for an answer.
    pub(crate) fn cast(&self, msg: M) -> Result<(), ActorError> {
        let actor = self.get().ok_or(ActorError::NotRunning)?;
        actor.cast(msg).map_err(|_| ActorError::NotRunning)
    }

    /// Sends and waits for the reply, at most `timeout`.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        msg: impl FnOnce(ractor::RpcReplyPort<T>) -> M,
        timeout: Duration,
    ) -> Result<T, ActorError> {
        let actor = self.get().ok_or(ActorError::NotRunning)?;
        match actor.call(msg, Some(timeout)).await {
            Ok(CallResult::Success(v)) => Ok(v),
            Ok(CallResult::Timeout) => Err(ActorError::Timeout(timeout)),
            Ok(CallResult::SenderError) => Err(ActorError::Dropped),
            Err(_) => Err(ActorError::NotRunning),
        }
    }
}

/// Why a message to a supervised actor got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorError {
    /// The actor is down (restarting, or degraded past its restart budget).
    #[error("actor not running")]
    NotRunning,
    /// No reply within the timeout.
    #[error("actor did not answer within {0:?}")]
    Timeout(Duration),
    /// The actor dropped the request without replying (it failed while handling it).
    #[error("actor dropped the request")]
    Dropped,
}

type StartFn =
    Arc<dyn Fn(ActorCell) -> BoxFuture<'static, Result<ActorCell, SpawnErr>> + Send + Sync>;
type InjectFn = Arc<dyn Fn(Fault) -> Result<(), ActorError> + Send + Sync>;

/// How to start (and restart) one child.
#[derive(Clone)]
pub(crate) struct ChildSpec {
    /// Unique name (in logs, metrics and `/healthz`; the actor itself is not registered).
    pub name: String,
    start: StartFn,
    inject: InjectFn,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .finish()
    }
}

impl ChildSpec {
    /// A child started (and restarted) from clones of `actor` and `args`; `child` is pointed at
    /// each new incarnation.
    pub(crate) fn new<A>(name: &str, actor: A, args: A::Arguments, child: ChildRef<A::Msg>) -> Self
    where
        A: Actor + Clone + Sync,
        A::Arguments: Clone + Sync,
        A::Msg: Faultable,
    {
        let target = child.clone();
        let inject: InjectFn = Arc::new(move |f| target.cast(A::Msg::fault(f)));
        let start: StartFn = Arc::new(move |sup: ActorCell| {
            let actor = actor.clone();
            let args = args.clone();
            let child = child.clone();
            Box::pin(async move {
                let (r, _) = Actor::spawn_linked(None, actor, args, sup).await?;
                child.set(r.clone());
                Ok(r.get_cell())
            })
        });
        Self {
            name: name.to_string(),
            start,
            inject,
        }
    }
}

/// Health of one child, as `/healthz` shows it.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct ChildHealth {
    /// Running now.
    pub running: bool,
    /// Restarts so far.
    pub restarts: u64,
    /// Out of restart budget: left stopped.
    pub degraded: bool,
}

/// Shared view of every child's health.
pub(crate) type HealthMap = Arc<RwLock<BTreeMap<String, ChildHealth>>>;

/// Supervisor messages.
#[derive(Debug)]
pub(crate) enum SupervisorMsg {
    /// Start the named child again (sent to itself after a backoff).
    Restart(String),
    /// Start (and from then on supervise) another child.
    Add(ChildSpec),
    /// A degraded child's cool-down is over: try it again.
    Cooldown(String),
    /// Make a child fail (`admin_injectFault`).
    Inject(
        String,
        InjectedFault,
        RpcReplyPort<Result<(), SupervisorError>>,
    ),
    /// Start a degraded (or stopped) child now, with a fresh budget (`admin_restartActor`).
    RestartNow(String, RpcReplyPort<Result<(), SupervisorError>>),
}

/// A fault as `admin_injectFault` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InjectedFault {
    /// The actor's handler panics.
    Panic,
    /// The actor is stopped.
    Stop,
    /// The actor handles nothing for this long.
    Stall(Duration),
}

/// Why a supervisor command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SupervisorError {
    /// No child has that name.
    #[error("unknown actor {0:?}")]
    Unknown(String),
    /// The child is not running (restarting or degraded).
    #[error("actor {0:?} is not running")]
    NotRunning(String),
    /// The child runs and is not degraded.
    #[error("actor {0:?} is running")]
    Running(String),
    /// The child could not be started.
    #[error("actor {0:?} did not start: {1}")]
    Start(String, String),
    /// The supervisor is gone.
    #[error("supervisor unavailable: {0}")]
    Unavailable(#[from] ActorError),
}

/// The supervisor actor.
#[derive(Debug, Clone)]
pub(crate) struct Supervisor;

/// Arguments: children in start order, the policy, and where to publish health.
#[derive(Debug)]
pub(crate) struct SupervisorArgs {
    /// Children, started in order.
    pub children: Vec<ChildSpec>,
    /// Restart policy.
    pub policy: RestartPolicy,
    /// Health map to maintain.
    pub health: HealthMap,
    /// How long a degraded child stays down before it is tried again.
    pub cooldown: Duration,
    /// Set to the supervisor itself before any child starts, so a child (the JSON-RPC server's
    /// admin methods) can reach it as soon as it serves.
    pub me: ChildRef<SupervisorMsg>,
}

#[derive(Debug)]
struct Child {
    spec: ChildSpec,
    budget: RestartBudget,
    cell: Option<ActorCell>,
}

/// Supervisor state.
#[derive(Debug)]
pub(crate) struct SupervisorState {
    children: HashMap<String, Child>,
    by_id: HashMap<ActorId, String>,
    policy: RestartPolicy,
    health: HealthMap,
    cooldown: Duration,
}

impl SupervisorState {
    fn set_health(&self, name: &str, f: impl FnOnce(&mut ChildHealth)) {
        let mut h = self.health.write().unwrap_or_else(|e| e.into_inner());
        let e = h.entry(name.to_string()).or_insert_with(|| {
            // First sight of this child: its series start at zero.
            metrics::counter!(m::SUPERVISOR_FAILURES, "actor" => name.to_string()).increment(0);
            metrics::counter!(m::SUPERVISOR_RESTARTS, "actor" => name.to_string()).increment(0);
            metrics::gauge!(m::SUPERVISOR_DEGRADED, "actor" => name.to_string()).set(0.0);
            ChildHealth {
                running: false,
                restarts: 0,
                degraded: false,
            }
        });
        f(e);
    }

    /// Starts a degraded or stopped child with a fresh budget.
    async fn revive(
        &mut self,
        me: &ActorRef<SupervisorMsg>,
        name: &str,
    ) -> Result<(), SupervisorError> {
        if let Some(c) = self.children.get_mut(name) {
            c.budget = RestartBudget::default();
        }
        match self.start(&me.get_cell(), name).await {
            Ok(()) => {
                metrics::counter!(m::SUPERVISOR_RESTARTS, "actor" => name.to_string()).increment(1);
                metrics::gauge!(m::SUPERVISOR_DEGRADED, "actor" => name.to_string()).set(0.0);
                self.set_health(name, |h| {
                    h.restarts += 1;
                    h.degraded = false;
                });
                Ok(())
            }
            Err(e) => {
                schedule_restart(me, self, name);
                Err(SupervisorError::Start(name.to_string(), e.to_string()))
            }
        }
    }

    async fn start(&mut self, me: &ActorCell, name: &str) -> Result<(), SpawnErr> {
        let spec = self.children[name].spec.clone();
        let cell = (spec.start)(me.clone()).await?;
        self.by_id.insert(cell.get_id(), name.to_string());
        if let Some(c) = self.children.get_mut(name) {
            c.cell = Some(cell);
        }
        self.set_health(name, |h| h.running = true);
        Ok(())
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        me: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        args.me.set(me.clone());
        let mut st = SupervisorState {
            children: HashMap::new(),
            by_id: HashMap::new(),
            policy: args.policy,
            health: args.health,
            cooldown: args.cooldown,
        };
        let names: Vec<String> = args.children.iter().map(|c| c.name.clone()).collect();
        for spec in args.children {
            st.children.insert(
                spec.name.clone(),
                Child {
                    spec,
                    budget: RestartBudget::default(),
                    cell: None,
                },
            );
        }
        for name in names {
            st.start(&me.get_cell(), &name).await?;
            info!(target: "supervisor", actor = %name, "started");
        }
        Ok(st)
    }

    async fn post_stop(
        &self,
        me: ActorRef<SupervisorMsg>,
        _st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        me.stop_children_and_wait(None, Some(Duration::from_secs(5)))
            .await;
        Ok(())
    }

    async fn handle(
        &self,
        me: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::Add(spec) => {
                let name = spec.name.clone();
                st.children.insert(
                    name.clone(),
                    Child {
                        spec,
                        budget: RestartBudget::default(),
                        cell: None,
                    },
                );
                if let Err(e) = st.start(&me.get_cell(), &name).await {
                    error!(target: "supervisor", actor = %name, error = %e, "start failed");
                    schedule_restart(&me, st, &name);
                } else {
                    info!(target: "supervisor", actor = %name, "started");
                }
            }
            SupervisorMsg::Restart(name) => match st.start(&me.get_cell(), &name).await {
                Ok(()) => {
                    metrics::counter!(m::SUPERVISOR_RESTARTS, "actor" => name.clone()).increment(1);
                    st.set_health(&name, |h| h.restarts += 1);
                    info!(target: "supervisor", actor = %name, "restarted");
                }
                Err(e) => {
                    error!(target: "supervisor", actor = %name, error = %e, "restart failed");
                    schedule_restart(&me, st, &name);
                }
            },
            SupervisorMsg::Cooldown(name) => {
                let degraded = st
                    .health
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&name)
                    .is_some_and(|h| h.degraded);
                if degraded {
                    info!(target: "supervisor", actor = %name, "cool-down over: trying it again");
                    if let Err(e) = st.revive(&me, &name).await {
                        error!(target: "supervisor", actor = %name, error = %e, "did not come back");
                    }
                }
            }
            SupervisorMsg::RestartNow(name, reply) => {
                let result = match st.children.get(&name) {
                    None => Err(SupervisorError::Unknown(name.clone())),
                    Some(c) if c.cell.is_some() => Err(SupervisorError::Running(name.clone())),
                    Some(_) => st.revive(&me, &name).await,
                };
                if result.is_ok() {
                    info!(target: "supervisor", actor = %name, "restarted on request");
                }
                let _ = reply.send(result);
            }
            SupervisorMsg::Inject(name, fault, reply) => {
                let result = match st.children.get(&name) {
                    None => Err(SupervisorError::Unknown(name.clone())),
                    Some(Child { cell: None, .. }) => {
                        Err(SupervisorError::NotRunning(name.clone()))
                    }
                    Some(Child {
                        cell: Some(cell),
                        spec,
                        ..
                    }) => {
                        warn!(target: "supervisor", actor = %name, ?fault, "injecting a fault");
                        match fault {
                            InjectedFault::Stop => {
                                cell.stop(Some("injected fault: stop".into()));
                                Ok(())
                            }
                            // The child's slot is empty or its mailbox closed: it is between
                            // incarnations (a restart under way), not the supervisor's fault.
                            InjectedFault::Panic => (spec.inject)(Fault::Panic)
                                .map_err(|_| SupervisorError::NotRunning(name.clone())),
                            InjectedFault::Stall(d) => (spec.inject)(Fault::Stall(d))
                                .map_err(|_| SupervisorError::NotRunning(name.clone())),
                        }
                    }
                };
                let _ = reply.send(result);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<SupervisorMsg>,
        evt: SupervisionEvent,
        st: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell, format!("failed: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                format!("stopped: {}", reason.unwrap_or_else(|| "no reason".into())),
            ),
            _ => return Ok(()),
        };
        let Some(name) = st.by_id.remove(&cell.get_id()) else {
            return Ok(());
        };
        st.set_health(&name, |h| h.running = false);
        if let Some(c) = st.children.get_mut(&name) {
            c.cell = None;
        }
        warn!(target: "supervisor", actor = %name, %why, "child exited");
        metrics::counter!(m::SUPERVISOR_FAILURES, "actor" => name.clone()).increment(1);
        schedule_restart(&me, st, &name);
        Ok(())
    }
}

fn schedule_restart(me: &ActorRef<SupervisorMsg>, st: &mut SupervisorState, name: &str) {
    let policy = st.policy.clone();
    let Some(child) = st.children.get_mut(name) else {
        return;
    };
    match child.budget.on_failure(Instant::now(), &policy) {
        AfterFailure::Degrade => {
            let cooldown = st.cooldown;
            error!(target: "supervisor", actor = %name, ?cooldown, "restart budget exhausted: running degraded without it until the cool-down is over");
            metrics::gauge!(m::SUPERVISOR_DEGRADED, "actor" => name.to_string()).set(1.0);
            st.set_health(name, |h| h.degraded = true);
            let name = name.to_string();
            me.send_after(cooldown, move || SupervisorMsg::Cooldown(name));
        }
        AfterFailure::RestartAfter(delay) => {
            let name = name.to_string();
            me.send_after(delay, move || SupervisorMsg::Restart(name));
        }
    }
}
