require "fileinto";
fileinto "Same";
fileinto "Same";
fileinto "INBOX";
keep;
