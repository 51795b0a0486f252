require ["mailbox", "fileinto"];
if header :contains "subject" "report" {
    fileinto :create "Reports";
} elsif mailboxexists "Lists" {
    fileinto "Lists";
}
