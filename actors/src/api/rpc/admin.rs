//! Drills (served only with `--dev.fault-injection`): `admin_injectFault` makes a supervised actor
//! (or a devnet validator) fail, `admin_restartActor` brings a degraded actor back at once.
//! Without the flag the methods do not exist (-32601).

use crate::{
    consensus::ValidatorFaults,
    supervisor::{ChildRef, InjectedFault, SupervisorError, SupervisorMsg},
};
use jsonrpsee::{core::async_trait, proc_macros::rpc, types::ErrorObjectOwned};
use std::time::Duration;

/// How long a supervisor command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest stall.
const MAX_STALL: Duration = Duration::from_secs(600);

/// `admin_injectFault` parameters.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FaultRequest {
    /// A supervised actor (`builder`, `overlay`, …, as `/healthz` lists them) or a devnet
    /// validator (`validator-<i>`).
    pub actor: String,
    /// `panic`, `stop` or `stall`.
    pub fault: String,
    /// How long a stall lasts.
    pub duration_ms: Option<u64>,
}

/// Context of the drill methods.
#[derive(Debug, Clone)]
pub(crate) struct AdminApi {
    /// The root supervisor.
    pub supervisor: ChildRef<SupervisorMsg>,
    /// The devnet validators' injected stalls (`None` without the devnet consensus).
    pub validators: Option<ValidatorFaults>,
}

fn invalid(msg: String) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, format!("invalid params: {msg}"), None::<()>)
}

fn refused(e: SupervisorError) -> ErrorObjectOwned {
    match e {
        SupervisorError::Unknown(_) => invalid(e.to_string()),
        _ => ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>),
    }
}

/// The drill methods.
#[rpc(server, namespace = "admin")]
pub(crate) trait AdminRpc {
    /// Makes an actor panic, stop, or stall for `durationMs`; a validator can only stall (its
    /// node does not answer the consensus, which costs it its rounds).
    #[method(name = "injectFault")]
    async fn inject_fault(&self, request: FaultRequest) -> Result<bool, ErrorObjectOwned>;
    /// Starts a degraded (or stopped) actor now with a fresh restart budget.
    #[method(name = "restartActor")]
    async fn restart_actor(&self, actor: String) -> Result<bool, ErrorObjectOwned>;
}

#[async_trait]
impl AdminRpcServer for AdminApi {
    async fn inject_fault(&self, request: FaultRequest) -> Result<bool, ErrorObjectOwned> {
        let stall = || {
            let ms = request
                .duration_ms
                .ok_or_else(|| invalid("a stall needs durationMs".into()))?;
            let d = Duration::from_millis(ms);
            if d > MAX_STALL {
                return Err(invalid(format!(
                    "durationMs is at most {}",
                    MAX_STALL.as_millis()
                )));
            }
            Ok(d)
        };
        let fault = match request.fault.as_str() {
            "panic" => InjectedFault::Panic,
            "stop" => InjectedFault::Stop,
            "stall" => InjectedFault::Stall(stall()?),
            other => {
                return Err(invalid(format!(
                    "unknown fault {other:?} (panic, stop or stall)"
                )));
            }
        };
        if let (Some(index), Some(validators)) =
            (request.actor.strip_prefix("validator-"), &self.validators)
        {
            let index: u64 = index
                .parse()
                .map_err(|_| invalid(format!("unknown actor {:?}", request.actor)))?;
            let InjectedFault::Stall(d) = fault else {
                return Err(invalid("a validator can only stall".into()));
            };
            return validators
                .stall(index, d)
                .map(|()| true)
                .map_err(|n| invalid(format!("there are {n} validators (validator-0 …)")));
        }
        let actor = request.actor.clone();
        self.supervisor
            .call(
                |reply| SupervisorMsg::Inject(actor, fault, reply),
                COMMAND_TIMEOUT,
            )
            .await
            .map_err(|e| refused(e.into()))?
            .map_err(refused)?;
        Ok(true)
    }

    async fn restart_actor(&self, actor: String) -> Result<bool, ErrorObjectOwned> {
        self.supervisor
            .call(
                |reply| SupervisorMsg::RestartNow(actor, reply),
                COMMAND_TIMEOUT,
            )
            .await
            .map_err(|e| refused(e.into()))?
            .map_err(refused)?;
        Ok(true)
    }
}
