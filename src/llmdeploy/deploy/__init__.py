"""Deploy engine: CloudFormation change sets, history, rollback, live status. The only
package that talks to AWS."""
