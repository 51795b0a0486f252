require ["mailbox", "fileinto"];
fileinto :create "INBOX.Created";
