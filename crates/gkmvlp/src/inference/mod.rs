//! What a user asks of one image, for the CLI and the browser alike: the [`pipeline`] (regions, grounded
//! findings, zero-shot scores, reports, answers, report checks), greedy [`generation`], the questions
//! answered from the findings ([`closed_question`]), and a report made to agree with them
//! ([`report_agreement`]).

pub mod closed_question;
pub mod generation;
pub mod pipeline;
pub mod reference_run;
pub mod report_agreement;
